#!/usr/bin/env python3
"""Browser test of `medsam serve`, in Debian's headless Chromium driven by Selenium.

What a user does, by real mouse events: open the page, load a real CT slice (DICOM), wait for the image
embedding, draw a box around a structure, see the mask, download the label PNG; then shift-click a point to
refine the mask and download again. Each downloaded mask must equal, pixel for pixel, what the library gives for
the same prompt through `medsam segment`. It also draws more boxes and reports the latency per box (mouse
release → overlay drawn) measured in the page.

Usage: python3 Tests/Browser/serve_browser_test.py --medsam Apps/.build/release/medsam [--screenshot docs/serve.png]
Writes Tests/Browser/artifacts/{serve.png,latency.json}. Exit status 0 only when every check passed.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CT = os.path.join(ROOT, "Fixtures/io/dicom/dicompyler_ct.0.dcm")   # real CT slice (dicompyler-core test data)
ARTIFACTS = os.path.join(ROOT, "Tests/Browser/artifacts")


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def read_png(path):
    """Decodes an 8-bit grayscale, non-interlaced PNG (what `medsam` writes for <256 labels) → (w, h, rows)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or ctype != 0 or interlace != 0:
                fail(f"{path}: expected 8-bit gray PNG, got depth {depth} colour type {ctype}")
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(w)
    for y in range(h):
        f, line = raw[y * (w + 1)], bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for x in range(w):
            a = line[x - 1] if x else 0
            b, c = prev[x], (prev[x - 1] if x else 0)
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows


def start_server(medsam, workdir):
    proc = subprocess.Popen([medsam, "serve", "--port", "0", "--workdir", workdir],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            fail(f"medsam serve exited ({proc.wait()}) before printing its URL")
        print("  server:", line.rstrip())
        if "serving at " in line:
            return proc, line.split("serving at ")[1].split()[0]
    fail("medsam serve printed no URL within 60 s")


def reference_mask(medsam, box, points, out):
    cmd = [medsam, "segment", CT, "--box", ",".join(str(v) for v in box), "-o", out]
    for p in points:
        cmd += ["--point", "1:%g,%g,%d" % tuple(p)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"medsam segment failed: {r.stderr}")
    return read_png(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medsam", default=os.path.join(ROOT, "Apps/.build/release/medsam"))
    ap.add_argument("--screenshot", help="also copy the page screenshot here (README picture)")
    ap.add_argument("--boxes", type=int, default=6, help="boxes drawn for the latency measurement")
    args = ap.parse_args()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        fail("selenium is not installed (scripts/bootstrap.sh installs it: pip install selenium)")
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not os.path.exists(chromedriver):
        fail("chromedriver not found (scripts/bootstrap.sh installs Debian's chromium and chromium-driver)")
    if not os.access(args.medsam, os.X_OK):
        fail(f"{args.medsam}: not built (swift build -c release --product medsam)")

    os.makedirs(ARTIFACTS, exist_ok=True)
    for stale in ("serve.png", "latency.json"):
        if os.path.exists(os.path.join(ARTIFACTS, stale)):
            os.remove(os.path.join(ARTIFACTS, stale))
    tmp = tempfile.mkdtemp(prefix="medsam-browser-")
    downloads = os.path.join(tmp, "downloads")
    os.makedirs(downloads)
    server, url = start_server(args.medsam, os.path.join(tmp, "work"))
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--force-device-scale-factor=1"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
    try:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        wait = WebDriverWait(driver, 180)
        state = lambda: driver.execute_script("return document.body.dataset.state")
        driver.get(url)
        wait.until(lambda d: "LiteMedSAM" in d.find_element(By.ID, "model").text)

        # 1. Open the CT slice and wait for its embedding (the page shows progress meanwhile).
        t0 = time.time()
        driver.find_element(By.ID, "file").send_keys(CT)
        seen_embedding = False
        while time.time() - t0 < 180:
            s = state()
            seen_embedding |= s == "embedding"
            if s == "ready":
                break
            if s == "error":
                fail("page error: " + driver.find_element(By.ID, "status").text)
            time.sleep(0.05)
        else:
            fail("no embedding within 180 s")
        if not seen_embedding:
            fail("the page never showed the embedding progress state")
        print(f"  image loaded and embedded in {time.time() - t0:.1f} s: {driver.find_element(By.ID, 'status').text}")
        info = driver.execute_script("return window.medsam.image")
        W, H = info["width"], info["height"]
        canvas = driver.find_element(By.ID, "canvas")

        def client(x, y):
            """Offsets from the canvas centre (Selenium 4) of image pixel (x, y)."""
            r = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", canvas)
            return (x * r[0] / W - r[0] / 2, y * r[1] / H - r[1] / 2)

        def draw_box(x0, y0, x1, y1):
            n = len(driver.find_elements(By.CSS_SELECTOR, "li.mask-item"))
            a, b = client(x0, y0), client(x1, y1)
            ActionChains(driver).move_to_element_with_offset(canvas, a[0], a[1]).click_and_hold() \
                .move_to_element_with_offset(canvas, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2) \
                .move_to_element_with_offset(canvas, b[0], b[1]).release().perform()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.mask-item")) == n + 1 and state() == "ready")
            item = driver.find_elements(By.CSS_SELECTOR, "li.mask-item")[-1]
            return item, [int(v) for v in item.get_attribute("data-box").split(",")], driver.execute_script(
                "return window.medsam.lastLatencyMs")

        def download(expect_items):
            for f in os.listdir(downloads):
                os.remove(os.path.join(downloads, f))
            link = driver.find_element(By.ID, "download-png")
            href = link.get_attribute("href") or ""
            if not all(i in href for i in expect_items):
                fail(f"download link {href} does not name masks {expect_items}")
            link.click()
            end = time.time() + 30
            while time.time() < end:
                done = [f for f in os.listdir(downloads) if f.endswith(".png")]
                if done:
                    return os.path.join(downloads, done[0])
                time.sleep(0.1)
            fail("no file downloaded within 30 s")

        # 2. Draw a box around the patient's neck/shoulder body region (the BODY contour of the RT structure
        #    set lies inside it), release, and wait for the overlay.
        item, box, latency = draw_box(90, 100, 340, 300)
        mask_id = item.get_attribute("data-id")
        print(f"  box {box}: mask {mask_id[:8]}…, {item.text.splitlines()[0] if item.text else ''} in {latency:.0f} ms")
        if any(abs(a - b) > 3 for a, b in zip(box, [90, 100, 340, 300])):
            fail(f"the page's box {box} is not where the mouse drew [90, 100, 340, 300]")

        # 3. Download the label PNG and compare with the library's own result for that box.
        got = read_png(download([mask_id]))
        ref = reference_mask(args.medsam, box, [], os.path.join(tmp, "ref.png"))
        area = sum(sum(1 for v in row if v) for row in got[2])
        if got[:2] != (W, H) or got[2] != ref[2]:
            diff = sum(sum(1 for a, b in zip(r1, r2) if a != b) for r1, r2 in zip(got[2], ref[2]))
            fail(f"downloaded mask differs from `medsam segment --box {box}` in {diff} pixels")
        if not (1000 < area < W * H // 2):
            fail(f"implausible mask area {area} px for box {box}")
        print(f"  downloaded mask = medsam segment result ({area} px)")

        # 4. Refine: select the mask, shift-click a positive point inside the box, download, compare.
        item.click()
        point = [120, 220]   # on the shoulder muscle inside the box
        p = client(*point)
        ActionChains(driver).key_down(Keys.SHIFT).move_to_element_with_offset(canvas, p[0], p[1]).click() \
            .key_up(Keys.SHIFT).perform()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "li.mask-item")[0].get_attribute("data-id") != mask_id
                   and state() == "ready")
        refined = driver.execute_script("return window.medsam.masks[0]")
        if len(refined["points"]) != 1 or refined["points"][0][2] != 1:
            fail(f"refined mask has points {refined['points']}, expected one positive point")
        pt = refined["points"][0]
        if abs(pt[0] - point[0]) > 3 or abs(pt[1] - point[1]) > 3:
            fail(f"point {pt} is not where the mouse clicked {point}")
        got = read_png(download([refined["id"]]))
        ref = reference_mask(args.medsam, box, [pt], os.path.join(tmp, "ref2.png"))
        if got[2] != ref[2]:
            fail(f"refined mask differs from `medsam segment --box {box} --point 1:{pt[0]},{pt[1]},1`")
        print(f"  refined with point {pt[:2]}: downloaded mask = medsam segment result")

        # 5. Latency per box: more boxes of several sizes on the cached embedding.
        latencies = [latency]
        boxes = [(300, 150, 480, 290), (240, 120, 300, 200), (200, 250, 330, 330), (150, 180, 250, 260),
                 (60, 60, 460, 380), (100, 300, 200, 400), (380, 200, 470, 300), (50, 120, 200, 300)]
        for i, b in enumerate(boxes[:max(0, args.boxes - 1)]):
            latencies.append(draw_box(*b)[2])
            if i == 1:   # the picture: the refined mask, the shoulder and the neck
                driver.save_screenshot(os.path.join(ARTIFACTS, "serve.png"))
        latencies_sorted = sorted(latencies)
        median = latencies_sorted[len(latencies) // 2]
        decoder = sorted(1000 * m["seconds"]["decoder"] for m in driver.execute_script("return window.medsam.masks"))
        print(f"  latency per box (mouse release → overlay drawn), {len(latencies)} boxes: "
              f"median {median:.0f} ms, min {latencies_sorted[0]:.0f}, max {latencies_sorted[-1]:.0f}; "
              f"server decoder time median {decoder[len(decoder) // 2]:.0f} ms")
        if not os.path.exists(os.path.join(ARTIFACTS, "serve.png")):
            driver.save_screenshot(os.path.join(ARTIFACTS, "serve.png"))
        if args.screenshot:
            shutil.copy(os.path.join(ARTIFACTS, "serve.png"), args.screenshot)
        with open(os.path.join(ARTIFACTS, "latency.json"), "w") as f:
            json.dump({"image": os.path.basename(CT), "size": [W, H], "latency_ms": latencies,
                       "median_ms": median, "decoder_ms": decoder}, f, indent=1)
        print("PASS: browser test of medsam serve")
    finally:
        driver.quit()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
