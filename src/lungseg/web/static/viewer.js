/*
 * lungseg segmentation viewer.
 *
 * Plain script (no modules, no bundler, no eval): runs under
 * `script-src 'self'`. Expects /static/vendor/niivue/niivue.umd.js to be
 * loaded first (it defines the global `niivue`).
 *
 * Element contract (rendered by templates/_viewer.html):
 *   <section class="lungseg-viewer"
 *            data-mode="volume|png"
 *            data-ct-url="..."        CT NIfTI, int16 HU (.nii.gz)
 *            data-labels-url="..."    label NIfTI, uint8, same grid
 *            data-slice-url="..."     PNG slices: ?plane=&index=&opacity=
 *            data-slices="N"          or '{"axial":N,"coronal":N,"sagittal":N}'
 *            data-legend='[{"value":1,"name":"right lung","colour":[r,g,b]}]'
 *            data-nodules-url="..."   optional: the Nodule click mode (POST x,y,z; GET /{id}, /rows,
 *                                     /labels.nii.gz) and the #nodule-rows table it fills
 *            data-csrf="...">         the session's CSRF token for that POST
 *     <canvas>, controls marked with data-lv-plane / data-lv-window /
 *     data-lv-control="opacity|plane|slice", .lv-fallback > img[data-lv-image]
 *
 * State written back on the element after every change (for tests):
 *   data-state          loading | ready | error
 *   data-renderer       niivue | png
 *   data-fallback-reason png-mode | 2d-first | webgl2-unavailable | niivue-unavailable | niivue-error
 *                       (2d-first: a volume opens in 2D slices at once; [data-lv-open-3d] loads NiiVue)
 *   data-first-image    milliseconds from the script's start to the first slice image shown
 *   data-plane          axial | coronal | sagittal | multiplanar (niivue only)
 *   data-opacity        label opacity, "0.00".."1.00"
 *   data-window         lung | mediastinum | custom            (niivue only)
 *   data-cal-min, data-cal-max  CT display range in HU         (niivue only)
 *   data-slice          slice index shown along the current plane
 *   data-voxel          "i,j,k" crosshair voxel                 (niivue only)
 *   data-revision       integer, incremented after each applied change
 *   data-nodule-mode    on | off                                (with data-nodules-url)
 *   data-nodule-state   idle | measuring | done | error         the last click's job
 *   data-nodule-point   "x,y,z" the last click, in voxels of the stored scan (the NIfTI's own i,j,k)
 *   data-overlay        integer, incremented when the overlay was redrawn with the nodules
 */
(function () {
  "use strict";

  var WINDOWS = {
    lung: { width: 1500, level: -600 },
    mediastinum: { width: 350, level: 40 }
  };
  var DEFAULT_WINDOW = "lung";
  var FALLBACK_PLANES = ["axial", "coronal", "sagittal"];
  var REASON_TEXT = {
    "png-mode": "",
    "2d-first": "",
    "webgl2-unavailable": "3D viewer unavailable (this browser has no WebGL2); showing 2D slices.",
    "niivue-unavailable": "3D viewer could not be loaded; showing 2D slices.",
    "niivue-error": "3D viewer failed to display the volume; showing 2D slices."
  };

  function parseJSON(text, fallback) {
    if (!text) return fallback;
    try {
      return JSON.parse(text);
    } catch (e) {
      return fallback;
    }
  }

  function hasWebGL2() {
    try {
      if (!window.WebGL2RenderingContext) return false;
      var probe = document.createElement("canvas");
      var gl = probe.getContext("webgl2");
      if (!gl) return false;
      var lose = gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
      return true;
    } catch (e) {
      return false;
    }
  }

  function clamp(v, lo, hi) {
    return Math.min(hi, Math.max(lo, v));
  }

  /* Discrete label colour map: value 0 (background) transparent, each legend
     value exactly its colour, opaque (the overlay opacity is applied by NiiVue). */
  function legendToColormap(legend) {
    var items = legend
      .filter(function (it) {
        return it && Number(it.value) > 0 && Array.isArray(it.colour);
      })
      .map(function (it) {
        return { value: Math.round(Number(it.value)), name: String(it.name || ""), colour: it.colour };
      })
      .sort(function (a, b) {
        return a.value - b.value;
      });
    var cm = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: [""] };
    items.forEach(function (it) {
      cm.R.push(clamp(Math.round(it.colour[0]), 0, 255));
      cm.G.push(clamp(Math.round(it.colour[1]), 0, 255));
      cm.B.push(clamp(Math.round(it.colour[2]), 0, 255));
      cm.A.push(255);
      cm.I.push(it.value);
      cm.labels.push(it.name);
    });
    return cm;
  }

  function parseSlices(text) {
    var parsed = parseJSON(text, null);
    var out = {};
    FALLBACK_PLANES.forEach(function (p) {
      var n;
      if (parsed !== null && typeof parsed === "object") {
        n = parsed[p] !== undefined ? parsed[p] : parsed.axial;
      } else {
        n = parsed;
      }
      n = Math.floor(Number(n));
      out[p] = isFinite(n) && n > 0 ? n : 1;
    });
    return out;
  }

  function Viewer(root) {
    this.root = root;
    this.mode = root.getAttribute("data-mode") === "png" ? "png" : "volume";
    this.ctUrl = root.getAttribute("data-ct-url") || "";
    this.labelsUrl = root.getAttribute("data-labels-url") || "";
    this.sliceUrl = root.getAttribute("data-slice-url") || "";
    this.slices = parseSlices(root.getAttribute("data-slices"));
    this.legend = parseJSON(root.getAttribute("data-legend"), []);
    if (!Array.isArray(this.legend)) this.legend = [];

    this.canvas = root.querySelector("canvas");
    this.fallbackBox = root.querySelector(".lv-fallback");
    this.image = root.querySelector("[data-lv-image]");
    this.status = root.querySelector("[data-lv-status]");
    this.opacityInput = root.querySelector('[data-lv-control="opacity"]');
    this.opacityOutput = root.querySelector('[data-lv-output="opacity"]');
    this.planeSelect = root.querySelector('[data-lv-control="plane"]');
    this.sliceInput = root.querySelector('[data-lv-control="slice"]');
    this.sliceOutput = root.querySelector('[data-lv-output="slice"]');
    this.planeButtons = Array.prototype.slice.call(root.querySelectorAll("[data-lv-plane]"));
    this.windowButtons = Array.prototype.slice.call(root.querySelectorAll("[data-lv-window]"));

    this.nv = null;
    this.renderer = null;
    this.revision = 0;
    this.plane = "axial";
    this.opacity = this.opacityInput ? clamp(Number(this.opacityInput.value) || 0, 0, 1) : 0.5;
    this.windowName = DEFAULT_WINDOW;
    this.fallbackPlane = "axial";
    this.fallbackIndex = 0;
    this.imageTimer = null;

    this.nodulesUrl = root.getAttribute("data-nodules-url") || "";
    this.csrf = root.getAttribute("data-csrf") || "";
    this.noduleButton = root.querySelector("[data-lv-nodule-mode]");
    this.open3dButton = root.querySelector("[data-lv-open-3d]");
    this.readout = root.querySelector("[data-lv-readout]");
    this.valueUrl = root.getAttribute("data-value-url") || "";
    this.valueTimer = null;
    this.fallbackBound = false;
    this.started = window.performance ? window.performance.now() : 0;
    this.noduleRows = document.getElementById("nodule-rows");
    this.noduleMode = false;
    this.overlayRevision = 0;
  }

  Viewer.prototype.set = function (name, value) {
    this.root.setAttribute("data-" + name, String(value));
  };

  Viewer.prototype.bump = function (state) {
    this.revision += 1;
    this.set("revision", this.revision);
    if (state) this.set("state", state);
  };

  Viewer.prototype.say = function (text) {
    if (this.status) this.status.textContent = text || "";
  };

  Viewer.prototype.start = function () {
    var self = this;
    this.set("state", "loading");
    this.set("opacity", this.opacity.toFixed(2));
    this.showOpacity();
    this.bindCommon();
    this.bindNodules();
    if (this.mode === "png") return this.startFallback("png-mode");
    if (!this.canvas || !this.ctUrl) return this.startFallback("niivue-error");
    if (!hasWebGL2()) return this.startFallback("webgl2-unavailable");
    if (!window.niivue || typeof window.niivue.Niivue !== "function") {
      return this.startFallback("niivue-unavailable");
    }
    /* 2D first: the server-drawn slices are usable in about a second, while NiiVue decodes the volumes on
       the main thread (tens of seconds without a GPU); the 3D viewer loads when asked for. */
    this.startFallback("2d-first");
    if (this.open3dButton) {
      this.open3dButton.hidden = false;
      this.open3dButton.addEventListener("click", function () {
        self.open3d();
      });
    }
  };

  Viewer.prototype.open3d = function () {
    var self = this;
    if (this.open3dButton) this.open3dButton.hidden = true;
    this.root.classList.remove("lv-is-fallback");
    this.root.removeAttribute("data-fallback-reason");
    if (this.fallbackBox) this.fallbackBox.hidden = true;
    if (this.canvas) this.canvas.hidden = false;
    Array.prototype.forEach.call(this.root.querySelectorAll(".lv-fallback-only"), function (el) {
      el.hidden = true;
    });
    Array.prototype.forEach.call(this.root.querySelectorAll(".lv-volume-only"), function (el) {
      el.hidden = false;
    });
    this.set("state", "loading");
    this.startNiivue().catch(function (err) {
      if (window.console) console.error("lungseg viewer: NiiVue failed", err);
      self.teardownNiivue();
      self.startFallback("niivue-error");
    });
  };

  /* ---------------------------------------------------------------- NiiVue */

  Viewer.prototype.startNiivue = async function () {
    var NV = window.niivue;
    var self = this;
    this.renderer = "niivue";
    this.set("renderer", "niivue");
    this.say("Loading volume\u2026");
    var opts = {
      backColor: [0, 0, 0, 1],
      crosshairColor: [0.25, 0.75, 1.0, 0.8],
      crosshairWidth: 1,
      show3Dcrosshair: false,
      isColorbar: false,
      isRadiologicalConvention: true,
      dragAndDropEnabled: false,
      loadingText: "Loading...",
      logLevel: "warn"
    };
    if (NV.SHOW_RENDER) opts.multiplanarShowRender = NV.SHOW_RENDER.NEVER;
    /* three slice panes in a row: no empty fourth pane where the 3D render would be */
    if (NV.MULTIPLANAR_TYPE && NV.MULTIPLANAR_TYPE.ROW !== undefined) opts.multiplanarLayout = NV.MULTIPLANAR_TYPE.ROW;
    var nv = new NV.Niivue(opts);
    this.nv = nv;
    await nv.attachToCanvas(this.canvas);
    if (!nv.gl) throw new Error("no WebGL2 context"); /* the getter throws too */

    var win = WINDOWS[DEFAULT_WINDOW];
    var list = [
      {
        url: this.ctUrl,
        name: "ct.nii.gz",
        colormap: "gray",
        opacity: 1,
        cal_min: win.level - win.width / 2,
        cal_max: win.level + win.width / 2
      }
    ];
    if (this.labelsUrl) {
      list.push({ url: this.labelsUrl, name: "labels.nii.gz", colormap: "gray", opacity: this.opacity });
    }
    await nv.loadVolumes(list);
    if (!nv.volumes || nv.volumes.length < list.length) throw new Error("volumes did not load");

    if (nv.volumes.length > 1) {
      nv.volumes[1].setColormapLabel(legendToColormap(this.legend));
      nv.volumes[1].opacity = this.opacity;  // applied by the single updateGLVolume below
    }

    nv.onLocationChange = function (data) {
      self.onLocation(data);
    };
    nv.onIntensityChange = function (vol) {
      if (vol === nv.volumes[0]) self.onUserContrast();
    };

    this.bindNiivue();
    this.applyWindow(DEFAULT_WINDOW, true);
    this.applyPlane("axial", true);
    nv.updateGLVolume();
    this.onLocation(null);
    this.say("");
    this.bump("ready");
  };

  Viewer.prototype.teardownNiivue = function () {
    this.nv = null;
  };

  Viewer.prototype.currentVoxel = function () {
    try {
      var nv = this.nv;
      var mm = nv.frac2mm(nv.scene.crosshairPos);
      var v = nv.volumes[0].mm2vox(mm);
      return [Math.round(v[0]), Math.round(v[1]), Math.round(v[2])];
    } catch (e) {
      return null;
    }
  };

  /* voxel axis scrolled by the current view (multiplanar: axial) */
  Viewer.prototype.sliceAxis = function () {
    if (this.plane === "sagittal") return 0;
    if (this.plane === "coronal") return 1;
    return 2;
  };

  Viewer.prototype.onLocation = function (data) {
    var vox = data && data.vox ? data.vox : this.currentVoxel();
    if (!vox || vox.length < 3) return;
    var v = [Math.round(vox[0]), Math.round(vox[1]), Math.round(vox[2])];
    this.set("voxel", v.join(","));
    this.set("slice", v[this.sliceAxis()]);
    var value = data && data.values && data.values.length ? Number(data.values[0].value) : NaN;
    var axis = this.sliceAxis();
    var dims = this.nv && this.nv.volumes[0] ? this.nv.volumes[0].dims : null;
    this.showReadout(v[axis] + 1, dims ? dims[1 + axis] : null,
                     isFinite(value) ? Math.round(value) + " HU at the crosshair" : "");
  };

  /* "Slice k of n" and the value under the cursor (2D view) or at the crosshair (3D viewer). */
  Viewer.prototype.showReadout = function (k, n, extra) {
    if (!this.readout) return;
    var text = n ? "Slice " + k + " of " + n : "";
    this.readout.textContent = text + (text && extra ? " \u00b7 " : "") + (extra || "");
    this.set("readout", this.readout.textContent);
  };

  Viewer.prototype.bindValueReadout = function () {
    var self = this;
    if (!this.image || !this.valueUrl || !window.fetch) return;
    var ask = function (e) {
      var w = self.image.clientWidth, h = self.image.clientHeight;
      if (!w || !h) return;
      var params = new URLSearchParams();
      params.set("plane", self.fallbackPlane);
      params.set("index", String(self.fallbackIndex));
      params.set("fx", clamp(e.offsetX / w, 0, 1).toFixed(4));
      params.set("fy", clamp(e.offsetY / h, 0, 1).toFixed(4));
      fetch(self.valueUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (found) {
          if (!found || self.renderer !== "png") return;
          var what = found.value + " " + found.unit + (found.structure ? " (" + found.structure + ")" : "");
          self.showReadout(self.fallbackIndex + 1, self.slices[self.fallbackPlane], what + " under the cursor");
        })
        .catch(function () {});
    };
    this.image.addEventListener("mousemove", function (e) {
      if (self.valueTimer) window.clearTimeout(self.valueTimer);
      self.valueTimer = window.setTimeout(function () { ask(e); }, 80);
    });
    this.image.addEventListener("mouseleave", function () {
      if (self.valueTimer) window.clearTimeout(self.valueTimer);
      self.showReadout(self.fallbackIndex + 1, self.slices[self.fallbackPlane], "");
    });
  };

  Viewer.prototype.onUserContrast = function () {
    var ct = this.nv.volumes[0];
    this.windowName = "custom";
    this.set("window", "custom");
    this.set("cal-min", Math.round(ct.cal_min));
    this.set("cal-max", Math.round(ct.cal_max));
    this.windowButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", "false");
    });
    this.bump();
  };

  Viewer.prototype.applyPlane = function (plane, quiet) {
    var nv = this.nv;
    var types = {
      axial: nv.sliceTypeAxial,
      coronal: nv.sliceTypeCoronal,
      sagittal: nv.sliceTypeSagittal,
      multiplanar: nv.sliceTypeMultiplanar
    };
    if (types[plane] === undefined) return;
    this.plane = plane;
    nv.setSliceType(types[plane]);
    this.planeButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lv-plane") === plane ? "true" : "false");
    });
    this.set("plane", plane);
    this.onLocation(null);
    if (!quiet) this.bump("ready");
  };

  Viewer.prototype.applyWindow = function (name, quiet) {
    var w = WINDOWS[name];
    if (!w) return;
    var btn = this.windowButtons.filter(function (b) {
      return b.getAttribute("data-lv-window") === name;
    })[0];
    var width = btn && isFinite(Number(btn.getAttribute("data-width"))) ? Number(btn.getAttribute("data-width")) : w.width;
    var level = btn && isFinite(Number(btn.getAttribute("data-level"))) ? Number(btn.getAttribute("data-level")) : w.level;
    var ct = this.nv.volumes[0];
    ct.cal_min = level - width / 2;
    ct.cal_max = level + width / 2;
    if (!quiet) this.nv.updateGLVolume();  // quiet: the caller updates once for all its changes
    this.windowName = name;
    this.windowButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lv-window") === name ? "true" : "false");
    });
    this.set("window", name);
    this.set("cal-min", ct.cal_min);
    this.set("cal-max", ct.cal_max);
    if (!quiet) this.bump("ready");
  };

  Viewer.prototype.stepSlice = function (delta) {
    var nv = this.nv;
    if (!nv || typeof nv.moveCrosshairInVox !== "function") return;
    var axis = this.sliceAxis();
    nv.moveCrosshairInVox(axis === 0 ? delta : 0, axis === 1 ? delta : 0, axis === 2 ? delta : 0);
    this.onLocation(null);
    this.bump("ready");
  };

  Viewer.prototype.bindNiivue = function () {
    var self = this;
    this.planeButtons.forEach(function (b) {
      b.addEventListener("click", function () {
        if (self.renderer === "niivue") self.applyPlane(b.getAttribute("data-lv-plane"));
      });
    });
    this.windowButtons.forEach(function (b) {
      b.addEventListener("click", function () {
        if (self.renderer === "niivue") self.applyWindow(b.getAttribute("data-lv-window"));
      });
    });
    /* NiiVue's own wheel handler scrolls slices; keep the crosshair voxel in
       sync and give keyboard users PageUp/PageDown/ArrowUp/ArrowDown. */
    this.canvas.addEventListener(
      "wheel",
      function () {
        window.setTimeout(function () {
          if (self.renderer !== "niivue") return;
          self.onLocation(null);
          self.bump();
        }, 0);
      },
      { passive: true }
    );
    this.canvas.addEventListener("keydown", function (e) {
      if (self.renderer !== "niivue") return;
      var d = { PageUp: 1, ArrowUp: 1, PageDown: -1, ArrowDown: -1 }[e.key];
      if (!d) return;
      e.preventDefault();
      self.stepSlice(d);
    });
  };

  /* ------------------------------------------------------------ common UI */

  Viewer.prototype.showOpacity = function () {
    if (this.opacityOutput) this.opacityOutput.textContent = Math.round(this.opacity * 100) + "%";
  };

  Viewer.prototype.bindCommon = function () {
    var self = this;
    if (!this.opacityInput) return;
    this.opacityInput.addEventListener("input", function () {
      self.opacity = clamp(Number(self.opacityInput.value) || 0, 0, 1);
      self.showOpacity();
      self.set("opacity", self.opacity.toFixed(2));
      if (self.renderer === "niivue" && self.nv && self.nv.volumes.length > 1) {
        if (!self.opacityFrame) {  // at most one rebuild per animation frame while the slider moves
          self.opacityFrame = window.requestAnimationFrame(function () {
            self.opacityFrame = null;
            self.nv.setOpacity(1, self.opacity);
            self.bump("ready");
          });
        }
      } else if (self.renderer === "png") {
        self.loadImage(false);
      }
    });
    this.opacityInput.addEventListener("change", function () {
      if (self.renderer === "png") self.loadImage(true);
    });
  };

  /* -------------------------------------------------------------- fallback */

  Viewer.prototype.startFallback = function (reason) {
    this.renderer = "png";
    this.set("renderer", "png");
    this.set("fallback-reason", reason);
    this.root.removeAttribute("data-window");
    this.root.removeAttribute("data-cal-min");
    this.root.removeAttribute("data-cal-max");
    this.root.removeAttribute("data-voxel");
    this.root.classList.add("lv-is-fallback");
    if (this.canvas) this.canvas.hidden = true;
    if (this.fallbackBox) this.fallbackBox.hidden = false;
    Array.prototype.forEach.call(this.root.querySelectorAll(".lv-volume-only"), function (el) {
      el.hidden = true;
    });
    Array.prototype.forEach.call(this.root.querySelectorAll(".lv-fallback-only"), function (el) {
      el.hidden = false;
    });
    this.say(REASON_TEXT[reason] || "");
    if (!this.sliceUrl || !this.image) {
      this.say("No 2D slice view is available for this result.");
      this.set("state", "error");
      return;
    }

    var planes = this.mode === "png" ? ["axial"] : FALLBACK_PLANES;
    if (this.mode === "png") {
      Array.prototype.forEach.call(this.root.querySelectorAll(".lv-plane-control"), function (el) {
        el.hidden = true;
      });
    }
    if (this.planeSelect) {
      Array.prototype.forEach.call(this.planeSelect.options, function (o) {
        o.hidden = planes.indexOf(o.value) < 0;
        o.disabled = planes.indexOf(o.value) < 0;
      });
      this.planeSelect.value = "axial";
    }
    if (!this.fallbackBound) this.bindFallback();
    var initial = this.sliceInput ? Number(this.sliceInput.value) : NaN;
    this.setFallbackPlane("axial", isFinite(initial) ? initial : null);
  };

  /* The 2D view's listeners, bound once (the view may be entered again after the 3D viewer failed). */
  Viewer.prototype.bindFallback = function () {
    var self = this;
    this.fallbackBound = true;
    this.bindValueReadout();
    if (this.planeSelect) {
      this.planeSelect.addEventListener("change", function () {
        self.setFallbackPlane(self.planeSelect.value);
      });
    }
    if (this.sliceInput) {
      this.sliceInput.addEventListener("input", function () {
        self.fallbackIndex = clamp(Math.round(Number(self.sliceInput.value) || 0), 0, self.slices[self.fallbackPlane] - 1);
        self.showSlice();
        self.loadImage(false);
      });
      this.sliceInput.addEventListener("change", function () {
        self.loadImage(true);
      });
    }
    this.image.addEventListener("load", function () {
      if (self.renderer !== "png" || self.image.getAttribute("src") !== self.pendingSrc) return;
      self.set("state", "ready");
      if (!self.root.hasAttribute("data-first-image") && window.performance) {
        self.set("first-image", Math.round(window.performance.now() - self.started));
      }
    });
    this.image.addEventListener("error", function () {
      if (self.renderer !== "png" || self.image.getAttribute("src") !== self.pendingSrc) return;
      self.set("state", "error");
      self.say("Could not load the slice image.");
    });
  };

  Viewer.prototype.setFallbackPlane = function (plane, index) {
    if (FALLBACK_PLANES.indexOf(plane) < 0) plane = "axial";
    this.fallbackPlane = plane;
    var n = this.slices[plane];
    var k = index === null || index === undefined ? Math.floor(n / 2) : index;
    this.fallbackIndex = clamp(Math.round(k), 0, n - 1);
    if (this.sliceInput) {
      this.sliceInput.max = String(n - 1);
      this.sliceInput.value = String(this.fallbackIndex);
      var single = n <= 1;
      Array.prototype.forEach.call(this.root.querySelectorAll(".lv-slice-control"), function (el) {
        el.hidden = single;
      });
      /* a 2D upload has one plane and one slice: nothing to choose */
      var group = this.sliceInput.closest(".lv-fallback-only");
      if (group) group.hidden = single && this.mode === "png";
    }
    this.set("plane", plane);
    this.showSlice();
    this.loadImage(true);
  };

  Viewer.prototype.showSlice = function () {
    var n = this.slices[this.fallbackPlane];
    if (this.sliceOutput) this.sliceOutput.textContent = this.fallbackIndex + 1 + " / " + n;
    this.showReadout(this.fallbackIndex + 1, n, "");
    if (this.sliceInput) {
      this.sliceInput.setAttribute("aria-valuetext", "slice " + (this.fallbackIndex + 1) + " of " + n);
    }
    this.set("slice", this.fallbackIndex);
  };

  Viewer.prototype.imageSrc = function () {
    var params = new URLSearchParams();
    params.set("plane", this.fallbackPlane);
    params.set("index", String(this.fallbackIndex));
    params.set("opacity", this.opacity.toFixed(2));
    if (this.overlayRevision) params.set("nodules", String(this.overlayRevision));
    return this.sliceUrl + (this.sliceUrl.indexOf("?") >= 0 ? "&" : "?") + params.toString();
  };

  /* Debounced while a slider is dragged; immediate on change/plane switch. */
  Viewer.prototype.loadImage = function (now) {
    var self = this;
    if (this.imageTimer) {
      window.clearTimeout(this.imageTimer);
      this.imageTimer = null;
    }
    var go = function () {
      self.imageTimer = null;
      var src = self.imageSrc();
      if (src === self.pendingSrc && self.image.complete) return;
      self.pendingSrc = src;
      self.set("state", "loading");
      self.image.alt =
        "CT " + self.fallbackPlane + " slice " + (self.fallbackIndex + 1) + " with segmentation overlay";
      self.image.setAttribute("src", src);
      self.bump();
    };
    if (now) go();
    else this.imageTimer = window.setTimeout(go, 120);
  };

  /* ----------------------------------------------------------- nodule mode */

  /* The Nodule button toggles a click mode: a left click in the axial view (NiiVue) or on the axial slice
     image (PNG view, and 2D uploads) posts the voxel under it, in the stored scan's own indices, to
     data-nodules-url; the job is polled, then the overlay is redrawn with the nodule (label 7) and the
     table's rows are swapped for the server's. */
  Viewer.prototype.bindNodules = function () {
    var self = this;
    if (!this.nodulesUrl || !this.noduleButton) return;
    this.set("nodule-mode", "off");
    this.set("nodule-state", "idle");
    this.noduleButton.addEventListener("click", function () {
      self.setNoduleMode(!self.noduleMode);
    });
    if (this.canvas) {
      var down = null;
      this.canvas.addEventListener("mousedown", function (e) {
        down = e.button === 0 ? [e.clientX, e.clientY] : null;
      });
      this.canvas.addEventListener("mouseup", function (e) {
        var start = down;
        down = null;
        if (!self.noduleMode || self.renderer !== "niivue" || e.button !== 0 || !start) return;
        if (Math.abs(e.clientX - start[0]) > 4 || Math.abs(e.clientY - start[1]) > 4) return; /* a drag */
        window.setTimeout(function () {  /* after NiiVue has moved the crosshair to the click */
          if (self.plane !== "axial") {
            self.say("Nodule mode measures in the axial view: choose Axial and click again.");
            return;
          }
          var v = self.nativeVoxel();
          if (v) self.measureNodule(v);
        }, 0);
      });
    }
    if (this.image) {
      this.image.addEventListener("click", function (e) {
        if (!self.noduleMode || self.renderer !== "png") return;
        if (self.fallbackPlane !== "axial") {
          self.say("Nodule mode measures in the axial view: choose the axial plane and click again.");
          return;
        }
        var box = self.image.getBoundingClientRect();
        if (!box.width || !box.height) return;
        var nx = self.slices.sagittal, ny = self.slices.coronal;  /* columns and rows of an axial slice */
        var x = clamp(Math.floor(((e.clientX - box.left) / box.width) * nx), 0, nx - 1);
        var y = clamp(Math.floor(((e.clientY - box.top) / box.height) * ny), 0, ny - 1);
        self.measureNodule([x, y, self.fallbackIndex]);
      });
    }
    if (this.noduleRows) {
      this.noduleRows.addEventListener("click", function (e) {
        var button = e.target.closest ? e.target.closest("[data-nodule-delete]") : null;
        if (button) self.deleteNodule(button.getAttribute("data-nodule-delete"));
      });
    }
  };

  Viewer.prototype.setNoduleMode = function (on) {
    this.noduleMode = on;
    this.noduleButton.setAttribute("aria-pressed", on ? "true" : "false");
    this.set("nodule-mode", on ? "on" : "off");
    this.root.classList.toggle("lv-nodule-mode", on);
    if (on && this.renderer === "niivue" && this.plane !== "axial") this.applyPlane("axial");
    if (on && this.renderer === "png" && this.fallbackPlane !== "axial") {
      if (this.planeSelect) this.planeSelect.value = "axial";
      this.setFallbackPlane("axial");
    }
    this.say(on ? "Nodule mode: click on a nodule in the axial view to measure it." : "");
  };

  /* The crosshair as voxel indices of the CT file itself (NiiVue's own voxels are those of the volume
     turned to RAS): world mm back through the NIfTI header's affine, rounded. */
  Viewer.prototype.nativeVoxel = function () {
    try {
      var nv = this.nv;
      var vol = nv.volumes[0];
      var mm = nv.frac2mm(nv.scene.crosshairPos, 0, true);
      var a = vol.hdr.affine;
      var m = [
        [a[0][0], a[0][1], a[0][2]],
        [a[1][0], a[1][1], a[1][2]],
        [a[2][0], a[2][1], a[2][2]]
      ];
      var b = [mm[0] - a[0][3], mm[1] - a[1][3], mm[2] - a[2][3]];
      var v = solve3(m, b);
      var dims = vol.hdr.dims;
      var out = [];
      for (var i = 0; i < 3; i++) {
        var k = Math.round(v[i]);
        if (!isFinite(k) || k < 0 || k >= dims[i + 1]) return null;
        out.push(k);
      }
      return out;
    } catch (e) {
      return null;
    }
  };

  function solve3(m, b) {  /* Cramer's rule for the 3x3 system m v = b */
    function det(c) {
      return (
        c[0][0] * (c[1][1] * c[2][2] - c[1][2] * c[2][1]) -
        c[0][1] * (c[1][0] * c[2][2] - c[1][2] * c[2][0]) +
        c[0][2] * (c[1][0] * c[2][1] - c[1][1] * c[2][0])
      );
    }
    var d = det(m);
    if (!d) throw new Error("singular affine");
    return [0, 1, 2].map(function (col) {
      var c = m.map(function (row, r) {
        return row.map(function (value, k) {
          return k === col ? b[r] : value;
        });
      });
      return det(c) / d;
    });
  }

  Viewer.prototype.measureNodule = function (voxel) {
    var self = this;
    var body = new URLSearchParams();
    body.set("x", String(voxel[0]));
    body.set("y", String(voxel[1]));
    body.set("z", String(voxel[2]));
    body.set("csrf_token", this.csrf);
    this.set("nodule-point", voxel.join(","));
    this.set("nodule-state", "measuring");
    this.say("Measuring\u2026 (nodule at x " + voxel[0] + ", y " + voxel[1] + ", z " + voxel[2] + ")");
    fetch(this.nodulesUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": this.csrf },
      body: body
    })
      .then(function (r) {
        return r.json().then(
          function (data) {
            return { status: r.status, data: data };
          },
          function () {
            return { status: r.status, data: {} };
          }
        );
      })
      .then(function (answer) {
        if (answer.status >= 400) {
          self.noduleFailed(answer.data.detail || NODULE_ERRORS[answer.status] || "the click was refused");
          return;
        }
        self.refreshRows();
        self.pollNodule(answer.data.id, 0);
      })
      .catch(function () {
        self.noduleFailed("the server could not be reached");
      });
  };

  var NODULE_ERRORS = {
    401: "the session has ended: sign in again",
    403: "the page has expired: reload it",
    404: "this analysis is not available",
    429: "too many clicks: wait a moment"
  };

  Viewer.prototype.noduleFailed = function (why) {
    this.set("nodule-state", "error");
    this.say("Nodule not measured: " + why + ".");
    this.bump();
  };

  Viewer.prototype.pollNodule = function (id, tries) {
    var self = this;
    fetch(this.nodulesUrl + "/" + encodeURIComponent(id), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) {
        return r.ok ? r.json() : Promise.reject(r.status);
      })
      .then(function (row) {
        var state = row.job && row.job.state;
        if (state === "queued" || state === "running") {
          self.say("Measuring\u2026 " + (row.job.stage || ""));
          window.setTimeout(function () {
            self.pollNodule(id, tries + 1);
          }, tries < 10 ? 700 : 1500);
          return;
        }
        self.refreshRows();
        if (row.found) {
          var size = row.long_axis_mm + " \u00d7 " + row.short_axis_mm + " mm, " + row.volume_mm3 + " mm\u00b3";
          self.say("Nodule measured: " + size + (row.lung_rads ? ", Lung-RADS " + row.lung_rads : "") + ".");
          self.redrawOverlay(function () {
            self.set("nodule-state", "done");
            self.bump("ready");
          });
        } else {
          self.say((row.reason || "no nodule found at the point") + ".");
          self.set("nodule-state", "done");
          self.bump();
        }
      })
      .catch(function () {
        if (tries < 200) {
          window.setTimeout(function () {
            self.pollNodule(id, tries + 1);
          }, 3000);
        } else {
          self.noduleFailed("no answer from the server");
        }
      });
  };

  Viewer.prototype.refreshRows = function () {
    var rows = this.noduleRows;
    if (!rows) return;
    fetch(this.nodulesUrl + "/rows", { credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.text() : Promise.reject(r.status);
      })
      .then(function (html) {
        rows.innerHTML = html;  /* the server's own template, escaped there */
      })
      .catch(function () {});
  };

  /* The label map again, with the nodules (label 7) painted in by the server. */
  Viewer.prototype.redrawOverlay = function (done) {
    var self = this;
    this.overlayRevision += 1;
    this.set("overlay", this.overlayRevision);
    if (this.renderer === "png") {
      this.loadImage(true);
      done();
      return;
    }
    var nv = this.nv;
    if (!nv) return done();
    var url = this.nodulesUrl + "/labels.nii.gz?v=" + this.overlayRevision;
    var old = nv.volumes.length > 1 ? nv.volumes[1] : null;
    nv.addVolumeFromUrl({ url: url, name: "labels.nii.gz", colormap: "gray", opacity: this.opacity })
      .then(function () {
        if (old) nv.removeVolume(old);
        var labels = nv.volumes[nv.volumes.length - 1];
        labels.setColormapLabel(legendToColormap(self.legend));
        labels.opacity = self.opacity;
        nv.updateGLVolume();
        done();
      })
      .catch(function (err) {
        if (window.console) console.error("lungseg viewer: overlay reload failed", err);
        self.say("The nodule was measured but the overlay could not be redrawn; reload the page.");
        done();
      });
  };

  Viewer.prototype.deleteNodule = function (id) {
    var self = this;
    var body = new URLSearchParams();
    body.set("csrf_token", this.csrf);
    fetch(this.nodulesUrl + "/" + encodeURIComponent(id) + "/delete", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": this.csrf },
      body: body
    })
      .then(function (r) {
        if (!r.ok) return Promise.reject(r.status);
        self.refreshRows();
        self.redrawOverlay(function () {
          self.bump("ready");
        });
      })
      .catch(function (status) {
        self.say("Could not remove the nodule (" + (NODULE_ERRORS[status] || status) + ").");
      });
  };

  /* ----------------------------------------------------------------- boot */

  function boot() {
    Array.prototype.forEach.call(document.querySelectorAll(".lungseg-viewer"), function (root) {
      if (root.getAttribute("data-lv-bound") === "1") return;
      root.setAttribute("data-lv-bound", "1");
      new Viewer(root).start();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();
