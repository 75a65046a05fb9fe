// The region-drawing surface of kling_nb (kling_nb/panel/region.py): a picture on which the
// user draws a box with the mouse (or a finger). Drag on the picture to draw, drag inside the
// box to move it, drag a handle to resize it; Clear removes it. The box is kept in the
// ORIGINAL photo's pixels (the `size` trait), whatever size the picture is shown at, and is
// sent to the kernel when a drag ends. A plain ES module: no build step, nothing fetched.

const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const MIN_DRAG = 3; // display px: a shorter drag is a click, not a box

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function normal(box, width, height) {
  if (!box) return null;
  let [l, t, r, b] = box.map((v) => Math.round(v));
  if (l > r) [l, r] = [r, l];
  if (t > b) [t, b] = [b, t];
  l = clamp(l, 0, width);
  r = clamp(r, 0, width);
  t = clamp(t, 0, height);
  b = clamp(b, 0, height);
  return r - l >= 1 && b - t >= 1 ? [l, t, r, b] : null;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "kling-nb-region";
  const stage = document.createElement("div");
  stage.className = "kling-nb-region-stage";
  const picture = document.createElement("img");
  picture.className = "kling-nb-region-picture";
  picture.draggable = false;
  picture.alt = "";
  const frame = document.createElement("div");
  frame.className = "kling-nb-region-box";
  for (const name of HANDLES) {
    const handle = document.createElement("div");
    handle.className = `kling-nb-region-handle kling-nb-region-${name}`;
    handle.dataset.handle = name;
    frame.appendChild(handle);
  }
  stage.append(picture, frame);
  const bar = document.createElement("div");
  bar.className = "kling-nb-region-bar";
  const clear = document.createElement("button");
  clear.className = "kling-nb-region-clear jupyter-button widget-button";
  clear.type = "button";
  const label = document.createElement("span");
  label.className = "kling-nb-region-label";
  const hint = document.createElement("div");
  hint.className = "kling-nb-region-hint";
  bar.append(clear, label);
  root.append(stage, bar, hint);
  el.appendChild(root);

  let box = null; // [l, t, r, b] in photo pixels, while it is being changed here
  let drag = null;

  const size = () => model.get("size") || [0, 0];
  const scale = () => {
    const rect = picture.getBoundingClientRect();
    const [width, height] = size();
    return rect.width > 0 ? [width / rect.width, height / rect.height, rect] : [1, 1, rect];
  };
  const toPhoto = (event) => {
    const [sx, sy, rect] = scale();
    const [width, height] = size();
    return [
      clamp((event.clientX - rect.left) * sx, 0, width),
      clamp((event.clientY - rect.top) * sy, 0, height),
    ];
  };

  function draw() {
    const [width, height] = size();
    const shown = box || null;
    clear.textContent = model.get("clear_label") || "Clear";
    hint.textContent = model.get("hint") || "";
    clear.disabled = !shown;
    if (!shown || !width || !picture.clientWidth) {
      frame.style.display = "none";
      label.textContent = shown ? "" : model.get("empty_label") || "";
      return;
    }
    const fx = picture.clientWidth / width;
    const fy = picture.clientHeight / height;
    const [l, t, r, b] = shown;
    Object.assign(frame.style, {
      display: "block",
      left: `${l * fx}px`,
      top: `${t * fy}px`,
      width: `${(r - l) * fx}px`,
      height: `${(b - t) * fy}px`,
    });
    label.textContent = `(${l}, ${t}, ${r}, ${b}) · ${r - l}×${b - t} px`;
  }

  function fromModel() {
    const [width, height] = size();
    box = normal(model.get("box"), width, height);
    draw();
  }

  function commit() {
    model.set("box", box ? [...box] : null);
    model.save_changes();
  }

  function onDown(event) {
    if (event.button !== undefined && event.button !== 0) return;
    const [x, y] = toPhoto(event);
    const handle = event.target.dataset ? event.target.dataset.handle : undefined;
    const inside = box && x >= box[0] && x <= box[2] && y >= box[1] && y <= box[3];
    const mode = handle ? handle : inside ? "move" : "draw";
    drag = { mode, x, y, start: box ? [...box] : null, cx: event.clientX, cy: event.clientY };
    stage.setPointerCapture(event.pointerId);
    event.preventDefault();
  }

  function onMove(event) {
    if (!drag) return;
    const [x, y] = toPhoto(event);
    const [width, height] = size();
    const dx = x - drag.x;
    const dy = y - drag.y;
    if (drag.mode === "draw") {
      const far = Math.hypot(event.clientX - drag.cx, event.clientY - drag.cy) >= MIN_DRAG;
      box = far ? normal([drag.x, drag.y, x, y], width, height) : drag.start;
    } else if (drag.mode === "move") {
      const [l, t, r, b] = drag.start;
      const mx = clamp(dx, -l, width - r);
      const my = clamp(dy, -t, height - b);
      box = [l + mx, t + my, r + mx, b + my].map(Math.round);
    } else {
      let [l, t, r, b] = drag.start;
      if (drag.mode.includes("w")) l += dx;
      if (drag.mode.includes("e")) r += dx;
      if (drag.mode.includes("n")) t += dy;
      if (drag.mode.includes("s")) b += dy;
      box = normal([l, t, r, b], width, height) || drag.start;
    }
    draw();
  }

  function onUp(event) {
    if (!drag) return;
    onMove(event);
    drag = null;
    if (stage.hasPointerCapture(event.pointerId)) stage.releasePointerCapture(event.pointerId);
    commit();
  }

  function onClear() {
    box = null;
    draw();
    commit();
  }

  function onSource() {
    picture.src = model.get("src") || "";
  }

  stage.addEventListener("pointerdown", onDown);
  stage.addEventListener("pointermove", onMove);
  stage.addEventListener("pointerup", onUp);
  stage.addEventListener("pointercancel", onUp);
  clear.addEventListener("click", onClear);
  picture.addEventListener("load", draw);
  model.on("change:box", fromModel);
  model.on("change:size", fromModel);
  model.on("change:src", onSource);
  model.on("change:clear_label", draw);
  model.on("change:hint", draw);
  const resized = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(draw);
  if (resized) resized.observe(picture);
  onSource();
  fromModel();

  return () => {
    if (resized) resized.disconnect();
    model.off("change:box", fromModel);
    model.off("change:size", fromModel);
    model.off("change:src", onSource);
    model.off("change:clear_label", draw);
    model.off("change:hint", draw);
  };
}

export default { render };
