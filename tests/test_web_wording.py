"""Pages speak the form's words: a real chest X-ray (Montgomery) uploaded with the CT lung model and a real
CT slice (kmader) with the X-ray model are refused with reasons that name the form's choices, not the
command line's options."""

from __future__ import annotations

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.settings import Settings
from lungseg.web.wording import plain
from webclient import WebClient


def test_refusals_name_the_forms_choices(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", workers=0, secret_key="k")
    with WebClient(create_app(settings)) as client:
        client.register("words@example.org")
        client.login("words@example.org")
        xray = client.upload(shared("xray-lung-montgomery", "images", "1.jpg"), model="ct-lung")
        assert xray.status_code == 422 and "radiograph" in xray.text
        assert "choose the model &#34;xray-lung&#34; (or &#34;auto&#34;) on the upload form" in xray.text, xray.text[
            -900:
        ]
        ct = client.upload(next(shared("ct-lung-kmader", "images").iterdir()), model="xray-lung")
        assert ct.status_code == 422 and "Hounsfield" in ct.text
        assert "on the upload form" in ct.text
        for page in (xray.text, ct.text):
            assert "--model" not in page and "--lesions" not in page


def test_plain_words():
    assert plain("use --model xray-lung (or auto)") == 'choose the model "xray-lung" (or "auto") on the upload form'
    assert plain("run --lesions covid-infection") == 'run the lesion model "covid-infection"'
    assert plain("give --interval-days for a doubling time") == "give the interval in days for a doubling time"
    assert plain("no options here") == "no options here"
