"""The Media tab with videos: an MP4 plays in the browser, steps have a slider, and images and
GIFs open full size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import labtrack

pytestmark = pytest.mark.browser


def moving_square(frames: int, shade: int) -> np.ndarray:
    out = np.full((frames, 120, 160, 3), shade, np.uint8)
    for i in range(frames):
        out[i, 40:80, 5 + i * 3 : 45 + i * 3] = (220, 40, 40)
    return out


@pytest.fixture(scope="module")
def video_server(tmp_path_factory, server_cls):
    root = tmp_path_factory.mktemp("videos")
    with labtrack.start_run("rl", name="cartpole", dir=root) as run:
        for episode in (0, 10):
            run.log_video("episode", moving_square(30, 40 + episode * 10), fps=15, step=episode)
        run.log_video(
            "small", moving_square(6, 90)[:, ::4, ::4], fps=5, format="gif", max_size=None
        )
        frames = [Image.new("RGB", (16, 16), c) for c in ("red", "green", "blue")]
        gif = root / "tiny.gif"
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
        run.log_image("tiny", gif, step=0)
    srv = server_cls(root)
    yield srv
    srv.stop()


@pytest.fixture
def vpage(browser, video_server):
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15_000)
    handle = json.loads(video_server.get("/api/runs")[1])["runs"][0]["handle"]
    pg.goto(f"{video_server.url}/#tab=media&runs={handle}")
    yield pg
    ctx.close()
    assert errors == []


def test_the_api_lists_videos_with_poster_and_format(video_server):
    handle = json.loads(video_server.get("/api/runs")[1])["runs"][0]["handle"]
    tags = json.loads(video_server.get(f"/api/tags?runs={handle}")[1])
    assert sorted(tags["videos"]) == ["episode", "small"]
    entries = json.loads(video_server.get(f"/api/videos?run={handle}&tag=episode")[1])["entries"]
    assert [(e["step"], e["format"]) for e in entries] == [(0, "mp4"), (10, "mp4")]
    status, body, headers = video_server.get(entries[0]["url"])
    assert status == 200 and headers["content-type"] == "video/mp4" and body[4:8] == b"ftyp"
    assert video_server.get(entries[0]["poster"])[0] == 200


def test_the_video_plays_and_the_slider_moves_between_steps(vpage):
    block = '.tagblock[data-kind="videos"][data-tag="episode"]'
    vpage.wait_for_selector(f"{block} video.media")
    vpage.wait_for_function(
        f"() => {{ const v = document.querySelector('{block} video.media');"
        " return v && !v.paused && v.currentTime > 0.2 && v.videoWidth === 160; }"
    )
    assert vpage.locator(f"{block} video.media").get_attribute("src").endswith("/10.mp4")
    slider = vpage.locator(f"{block} input.itslider")
    slider.fill("0")
    vpage.wait_for_function(
        f"document.querySelector('{block} video.media').getAttribute('src').endsWith('/0.mp4')"
    )
    assert "step 0 (1 of 2)" in vpage.locator(f"{block} .sliderrow").inner_text()


def test_a_tiny_gif_is_shown_scaled_up_and_opens_full_size(vpage):
    img = vpage.locator('.tagblock[data-tag="tiny"] img.media')
    img.wait_for()
    vpage.wait_for_function(
        "document.querySelector('.tagblock[data-tag=\"tiny\"] img.media').naturalWidth === 16"
    )
    assert img.bounding_box()["width"] >= 150  # 16 px shown at 160, pixelated
    img.click()
    big = vpage.locator("#lightbox img")
    big.wait_for()
    box = big.bounding_box()
    assert box["height"] >= 0.9 * 800 * 0.92 - 2  # as large as the window allows
    vpage.keyboard.press("Escape")
    vpage.wait_for_selector("#lightbox", state="detached")


def test_a_video_opens_full_size(vpage):
    block = '.tagblock[data-kind="videos"][data-tag="episode"]'
    vpage.wait_for_function(f"document.querySelector('{block} video.media')?.videoWidth === 160")
    vpage.locator(f"{block} a", has_text="full size").click()
    big = vpage.locator("#lightbox video")
    big.wait_for()
    assert big.bounding_box()["width"] > 900
    vpage.locator("#lightbox").click(position={"x": 5, "y": 5})
    vpage.wait_for_selector("#lightbox", state="detached")


def test_labtrack_demo_shows_an_animation_in_the_media_tab(tmp_path, browser, server_cls):
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "labtrack",
            "demo",
            "--dir",
            str(tmp_path),
            "--runs",
            "1",
            "--steps",
            "60",
        ],
        env={**os.environ, "PYTHONPATH": src},
        check=True,
        capture_output=True,
        timeout=120,
    )
    srv = server_cls(tmp_path)
    try:
        handle = json.loads(srv.get("/api/runs")[1])["runs"][0]["handle"]
        ctx = browser.new_context(viewport={"width": 1200, "height": 800})
        pg = ctx.new_page()
        pg.goto(f"{srv.url}/#tab=media&runs={handle}")
        selector = '.tagblock[data-kind="videos"][data-tag="eval/boundary_over_training"] img.media'
        pg.wait_for_function(f"document.querySelector('{selector}')?.naturalWidth === 64")
        ctx.close()
    finally:
        srv.stop()
