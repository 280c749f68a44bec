"""History: find, filter, sort and thumbnails. Two real uploads (a kmader CT slice with ct-lung, a Montgomery
chest X-ray with xray-lung) and two rows with made-up summaries (the edge cases of the verdict and quality
keys: a "check" verdict, no quality, a failed job) go through ``GET /analyses``."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.history import HistoryQuery
from lungseg.web.models import Analysis, Job, User
from lungseg.web.settings import Settings
from webclient import WebClient


def names(page: str) -> list[str]:
    """The input names of the history rows, in order."""
    table = page.split('id="history"')[1].split("</table>")[0]
    return re.findall(r'<td data-label="Input"><a href="/analyses/[^"]+">([^<]+)</a>', table)


def test_history_filters_sorts_and_thumbnails(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="k", page_size=3)
    app = create_app(settings)
    with WebClient(app) as client:
        client.register("history@example.org")
        client.login("history@example.org")
        ct = shared("ct-lung-kmader", "images", "ID_0000_Z_0142.tif")
        xray = shared("xray-lung-montgomery", "images", "1.jpg")
        for path, model in ((ct, "ct-lung"), (xray, "xray-lung")):
            response = client.upload(path, model=model)
            assert response.status_code == 303, response.text[-500:]
            assert client.wait(response.headers["location"])["state"] == "done"
        with app.state.sessions() as db:
            user = db.query(User).one()
            for name, summary, state in (
                (
                    "made-up-check.nii.gz",
                    {"verdict": {"status": "check"}, "quality": {"score": 0.41, "flagged": True}},
                    "done",
                ),
                ("made-up-failed.nii.gz", None, "failed"),
            ):
                db.add(
                    Analysis(
                        user_id=user.id,
                        input_name=name,
                        input_kind="volume",
                        model="ct-lung",
                        summary=summary,
                        job=Job(state=state),
                    )
                )
            db.commit()

        newest = client.get("/analyses").text
        assert names(newest) == ["made-up-failed.nii.gz", "made-up-check.nii.gz", "1.jpg"]  # a page of 3
        assert "Next" in newest and "needs a look" in newest and 'class="warn">low<' in newest
        second = client.get("/analyses?page=2").text
        assert names(second) == [ct.name]

        by_quality = names(client.get("/analyses?sort=quality&page=1").text)
        assert by_quality[0] == "made-up-check.nii.gz"  # lowest quality first; no score goes last
        assert "made-up-failed.nii.gz" not in by_quality  # (page 2)
        assert names(client.get("/analyses?verdict=check").text) == ["made-up-check.nii.gz"]
        assert names(client.get("/analyses?model=xray-lung").text) == ["1.jpg"]
        assert names(client.get("/analyses?verdict=none").text) == ["made-up-failed.nii.gz"]
        assert names(client.get("/analyses?sort=verdict").text)[0] == "made-up-check.nii.gz"
        assert client.get("/analyses?sort=sideways").status_code == 422
        paged = client.get("/analyses?sort=oldest").text
        assert (
            names(paged) == [ct.name, "1.jpg", "made-up-check.nii.gz"]
            and "sort=oldest" in paged.split("Next")[0][-200:]
        )

        row = client.get(f"/analyses?q={xray.stem}").text
        url = re.search(r'src="(/analyses/[^"]+/thumbnail.png)"', row).group(1)
        picture = client.get(url)
        assert picture.status_code == 200 and Image.open(io.BytesIO(picture.content)).size == (64, 64)
        stored = list((settings.data_dir / "analyses").rglob("result/thumbnail.png"))
        assert len(stored) == 1 and stored[0].read_bytes() == picture.content  # made once, then kept

        client.post("/logout")
        client.register("other@example.org")
        client.login("other@example.org")
        assert client.get(url).status_code == 404
        assert "No analyses yet" in client.get("/analyses").text


def test_history_query_rules():
    with pytest.raises(ValueError, match="sort must be one of"):
        HistoryQuery(sort="size")
    with pytest.raises(ValueError, match="verdict must be one of"):
        HistoryQuery(verdict="maybe")
