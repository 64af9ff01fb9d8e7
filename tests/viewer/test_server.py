"""The viewer's HTTP API, against a real ``python -m labtrack.viewer`` process."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import shutil
import time

import numpy as np
import pytest

import labtrack
from labtrack.viewer import main
from labtrack.viewer.auth import is_loopback

XSS = "<img src=x onerror=alert(1)>"


def _json(server, path):
    status, body, _ = server.get(path)
    assert status == 200, body
    return json.loads(body)


def _handles(server):
    runs = _json(server, "/api/runs")["runs"]
    return {r["name"]: r for r in runs}


def test_it_prints_its_address_and_binds_loopback(server):
    assert server.banner.startswith(f"labtrack viewer on http://127.0.0.1:{server.port}/")


def test_runs_lists_every_run_with_status_config_and_summary(server):
    runs = _handles(server)
    assert set(runs) == {"lr0.1", "lr0.01", XSS, "broken-run"}
    lr = runs["lr0.1"]
    assert lr["status"] == "completed"
    assert lr["experiment"] == "mnist"
    assert lr["config"] == {"lr": 0.1, "model.depth": 2, "model.act": "relu", "seed": 0}
    assert lr["summary"]["best_acc"] == 0.9
    broken = runs["broken-run"]
    assert broken["status"] == "unreadable"
    assert "corrupt run metadata" in broken["unreadable"]


def test_runs_answers_unchanged_when_nothing_changed(server):
    version = _json(server, "/api/runs")["version"]
    assert _json(server, f"/api/runs?since={version}") == {"version": version, "unchanged": True}


def test_scalars_are_downsampled_and_say_how_much(server):
    runs = _handles(server)
    ids = f"{runs['lr0.1']['handle']},{runs['lr0.01']['handle']}"
    data = _json(server, f"/api/scalars?tag=train/loss&runs={ids}&width=100")
    assert [s["total"] for s in data["series"]] == [5000, 5000]
    for s in data["series"]:
        assert s["shown"] == len(s["x"]) == len(s["y"]) <= 400
        assert s["x"][0] == 0
        assert s["x"][-1] == 4999
    zoom = _json(server, f"/api/scalars?tag=train/loss&runs={ids}&width=100&xmin=1000&xmax=1100")
    s = zoom["series"][0]
    assert s["x"] == list(range(999, 1102))  # every point in the window, one neighbour each side


def test_a_spike_is_never_sampled_away(server):
    h = _handles(server)["lr0.1"]["handle"]
    s = _json(server, f"/api/scalars?tag=train/spike&runs={h}&width=1")["series"][0]
    assert max(s["y"]) == 1000.0


def test_x_axis_by_wall_and_relative_time(server):
    h = _handles(server)["lr0.1"]["handle"]
    rel = _json(server, f"/api/scalars?tag=eval/acc&runs={h}&x=relative&width=50")["series"][0]
    assert rel["x"][0] == 0.0
    assert rel["x"][-1] >= 0
    wall = _json(server, f"/api/scalars?tag=eval/acc&runs={h}&x=wall&width=50")["series"][0]
    assert wall["x"][0] > 1e9


def test_csv_export_is_full_resolution(server):
    runs = _handles(server)
    ids = f"{runs['lr0.1']['handle']},{runs['lr0.01']['handle']}"
    status, body, headers = server.get(f"/api/scalars.csv?tag=train/loss&runs={ids}")
    assert status == 200
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 10_000
    assert {r["run"] for r in rows} == {"lr0.1", "lr0.01"}
    view = labtrack.Store(server_root(server)).runs(name="lr0.1")[0]
    exact = view.scalars("train/loss").values
    assert np.array_equal([float(r["value"]) for r in rows if r["run"] == "lr0.1"], exact)


def server_root(server):
    return _json(server, "/api/info")["root"]


def test_svg_export(server):
    h = _handles(server)["lr0.1"]["handle"]
    status, body, headers = server.get(f"/api/scalars.svg?tag=train/loss&runs={h}&log=1")
    assert status == 200
    assert headers["content-type"].startswith("image/svg+xml")
    assert body.lstrip().startswith(b"<?xml")
    assert b"<svg" in body


def test_tags_text_figures_images_artifacts(server):
    runs = _handles(server)
    h = runs["lr0.1"]["handle"]
    tags = _json(server, f"/api/tags?runs={h},{runs['broken-run']['handle']}")
    assert set(tags["scalars"]) == {"train/loss", "eval/acc", "train/spike"}
    assert tags["figures"] == {t: [h] for t in ["bars", "curve", "landscape", "plotly"]}
    text = _json(server, f"/api/text?run={h}&tag=samples")["entries"]
    assert [e["step"] for e in text] == [0, 10, 20]
    assert XSS in text[0]["text"]
    images = _json(server, f"/api/images?run={h}&tag=frames")["entries"]
    assert [e["step"] for e in images] == [0, 1, 2]
    status, png, _ = server.get(images[0]["url"])
    assert status == 200
    assert png.startswith(b"\x89PNG")
    gif = _json(server, f"/api/images?run={h}&tag=episode")["entries"][0]
    status, body, headers = server.get(gif["url"])
    assert headers["content-type"] == "image/gif"
    assert body.startswith(b"GIF89a")
    arts = _json(server, f"/api/artifacts?run={h}")["artifacts"]
    assert arts[0]["name"] == "model0.bin"
    assert arts[0]["kind"] == "model"
    assert server.get(arts[0]["url"])[1] == b"weights" * 10


def test_figures_interactive_where_possible_else_png(server):
    h = _handles(server)["lr0.1"]["handle"]
    curve = _json(server, f"/api/figure?run={h}&tag=curve&step=0")
    assert curve["kind"] == "plotly"
    assert curve["figure"]["data"][0]["y"] == [0.0, 1.0, 4.0]
    surface = _json(server, f"/api/figure?run={h}&tag=landscape&step=0")
    assert surface["kind"] == "plotly"
    assert surface["figure"]["data"][0]["type"] == "mesh3d"
    native = _json(server, f"/api/figure?run={h}&tag=plotly&step=0")
    assert native["kind"] == "plotly"
    assert native["figure"]["data"][0]["type"] == "scatter3d"
    bars = _json(server, f"/api/figure?run={h}&tag=bars&step=0")
    assert bars["kind"] == "png"
    assert "interactive=False" in bars["reason"]
    assert server.get(bars["url"])[1].startswith(b"\x89PNG")


def test_bad_parameters_are_named(server):
    status, body, _ = server.get("/api/scalars?tag=x&runs=abc")
    assert status == 400
    assert b"runs" in body
    status, body, _ = server.get("/api/scalars?runs=1")
    assert status == 400
    assert b"tag" in body
    status, body, _ = server.get("/api/scalars?tag=x&runs=9999")
    assert status == 400
    assert b"9999" in body
    status, body, _ = server.get("/api/text?run=1&tag=nope")
    assert status == 404


def _raw_get(server, raw_path, host=None):
    """A request whose path is sent byte for byte (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", raw_path, skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{server.port}" if host is None else host)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


@pytest.mark.parametrize(
    "raw",
    [
        "/files/../secret.txt",
        "/files/../../../../etc/passwd",
        "/files/mnist/../../etc/passwd",
        "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/files/%252e%252e/%252e%252e/etc/passwd",
        "/files//etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/..%5c..%5cetc%5cpasswd",
    ],
)
def test_file_route_refuses_traversal(server, raw):
    status, body = _raw_get(server, raw)
    assert status in (403, 404), (status, body)
    assert b"root:" not in body


def test_file_route_refuses_symlinks_leaving_the_directory(store_dir, tmp_path_factory, server_cls):
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("outside secret")
    link = store_dir / "mnist" / "leak.txt"
    os.symlink(outside, link)
    srv = server_cls(store_dir)
    try:
        status, body = _raw_get(srv, "/files/mnist/leak.txt")
        assert status == 403
        assert b"outside secret" not in body
        assert _raw_get(srv, "/files/secret.txt") == (200, b"inside")
    finally:
        srv.stop()
        link.unlink()


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:80",
        "127.0.0.1.evil.example",  # a DNS-rebinding name that merely starts like loopback
        "127.0.0.1.evil.example:{port}",
        "127.evil.example",
        "localhost.evil.example",
        "localhost.",
        "[::1].evil.example",
        "[::1]evil.example",
        "127.0.0.2:{port}",  # loopback, but not this server's address
        "localhost:{port}@evil.example",
        "localhost:abc",
        "",
    ],
)
def test_loopback_server_refuses_foreign_host_headers(server, host):
    status, body = _raw_get(server, "/api/info", host=host.format(port=server.port))
    assert (status, body) == (403, b"Forbidden: unexpected Host header")


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:{port}",
        "127.0.0.1",
        "127.0.0.1:{port}",
        "[::1]:{port}",
        "[::1]",
        "LocalHost:{port}",
    ],
)
def test_loopback_server_answers_its_own_names(server, host):
    assert _raw_get(server, "/api/info", host=host.format(port=server.port))[0] == 200


def test_a_server_bound_to_another_loopback_address_answers_to_it(store_dir, server_cls):
    srv = server_cls(store_dir, "--host", "127.0.0.2")
    try:
        assert srv.banner.startswith(f"labtrack viewer on http://127.0.0.2:{srv.port}/ ")
        conn = http.client.HTTPConnection("127.0.0.2", srv.port, timeout=10)
        for host, expected in [
            (f"127.0.0.2:{srv.port}", 200),
            (f"localhost:{srv.port}", 200),
            (f"127.0.0.3:{srv.port}", 403),
            ("127.0.0.2.evil.example", 403),
        ]:
            conn.request("GET", "/api/info", headers={"Host": host})
            response = conn.getresponse()
            response.read()
            assert response.status == expected, host
        conn.close()
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.evil.example", False),  # a name: it may resolve anywhere
        ("127.0.0.1.evil.example", False),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
    ],
)
def test_only_loopback_binds_go_without_a_token(host, loopback):
    assert is_loopback(host) is loopback


def test_token_is_required_on_every_request(store_dir, server_cls):
    srv = server_cls(store_dir, "--token", "s3cret")
    try:
        assert srv.banner.rstrip().split()[3].endswith("/?token=s3cret")
        assert srv.get("/api/runs")[0] == 401
        assert srv.get("/")[0] == 401
        assert srv.get("/files/secret.txt")[0] == 401
        assert srv.get("/api/runs", {"Authorization": "Bearer wrong"})[0] == 401
        assert srv.get("/api/runs", {"Authorization": "Bearer s3cret"})[0] == 200
        status, _, headers = srv.get("/?token=s3cret")
        assert status == 200
        assert "labtrack_token=s3cret" in headers["set-cookie"]
        assert "HttpOnly" in headers["set-cookie"]
        assert srv.get("/api/runs", {"Cookie": "labtrack_token=s3cret"})[0] == 200
    finally:
        srv.stop()


def test_token_from_the_environment(store_dir, server_cls):
    srv = server_cls(store_dir, env={"LABTRACK_TOKEN": "fromenv"})
    try:
        assert srv.get("/api/info")[0] == 401
        assert srv.get("/api/info?token=fromenv")[0] == 200
    finally:
        srv.stop()


def test_other_hosts_warn_and_get_a_token(store_dir, server_cls):
    srv = server_cls(store_dir, "--host", "0.0.0.0")
    try:
        assert "WARNING" in srv.preamble
        assert "0.0.0.0" in srv.preamble
        assert "token=" in srv.banner
        assert srv.get("/api/info")[0] == 401
    finally:
        srv.stop()


def test_a_missing_directory_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope")])
    assert "does not exist" in capsys.readouterr().err


def test_cache_budget_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--cache-mb", "0"])
    assert "--cache-mb must be a positive number" in capsys.readouterr().err


def test_decoded_series_stay_within_the_memory_budget(tmp_path, server_cls):
    # 8 runs x 300,000 points take 7.2 MB each decoded; a 16 MB budget holds two of them.
    for r in range(8):
        with labtrack.start_run("big", name=f"r{r}", dir=tmp_path) as run:
            for step in range(300_000):
                run.log_metric("loss", float(r * 1_000_000 + step), step=step)
    bounded, unbounded = server_cls(tmp_path, "--cache-mb", "16"), server_cls(tmp_path)
    try:
        handles = ",".join(str(r["handle"]) for r in _handles(bounded).values())
        whole = f"/api/scalars?tag=loss&runs={handles}&width=100"
        for srv in (bounded, unbounded):
            body = _json(srv, whole)
            assert [s["total"] for s in body["series"]] == [300_000] * 8
            assert sorted(s["y"][0] for s in body["series"]) == [r * 1e6 for r in range(8)]
        memory = _json(bounded, "/api/info")["series_memory"]
        assert memory["budget_bytes"] == 16 * 2**20
        assert 2 * 7_200_000 <= memory["used_bytes"] <= memory["budget_bytes"]
        assert _json(unbounded, "/api/info")["series_memory"]["used_bytes"] == 8 * 7_200_000
        # freed memory is reused rather than returned, so the process stays near its peak
        # (the budget plus the series being decoded): well under holding all 57.6 MB
        assert _rss_mb(bounded.proc.pid) < _rss_mb(unbounded.proc.pid) - 20

        # asking again is answered from the downsampled results: nothing is read again
        assert _json(bounded, whole) == body
        assert _json(bounded, "/api/info")["series_memory"] == memory
        # zooming needs the points: released series are read again, whole and right
        zoom = _json(bounded, f"/api/scalars?tag=loss&runs={handles}&xmin=1000&xmax=2000")
        for s in zoom["series"]:
            assert s["x"] == list(range(999, 2002))
            assert s["y"][0] % 1_000_000 == 999
        status, csv_body, _ = bounded.get(f"/api/scalars.csv?tag=loss&runs={handles}")
        assert status == 200 and csv_body.count(b"\n") == 8 * 300_000 + 1
    finally:
        bounded.stop()
        unbounded.stop()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = next(line.split()[1] for line in fh if line.startswith("VmRSS"))
    return int(kb) / 1024


def test_new_runs_and_points_appear_while_a_run_is_written(tmp_path, server_cls):
    srv = server_cls(tmp_path)
    try:
        assert _json(srv, "/api/runs")["runs"] == []
        run = labtrack.start_run("live", name="growing", dir=tmp_path)
        for step in range(10):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.flush()
        deadline = time.monotonic() + 5
        rows = []
        while time.monotonic() < deadline and not rows:
            rows = _json(srv, "/api/runs")["runs"]
            time.sleep(0.2)
        assert rows
        assert rows[0]["status"] == "running"
        h = rows[0]["handle"]
        assert _json(srv, f"/api/scalars?tag=loss&runs={h}")["series"][0]["total"] == 10
        for step in range(10, 25):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.flush()
        total = 10
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and total != 25:
            total = _json(srv, f"/api/scalars?tag=loss&runs={h}")["series"][0]["total"]
            time.sleep(0.2)
        assert total == 25
        run.finish()
        status = "running"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and status != "completed":
            status = _json(srv, "/api/runs")["runs"][0]["status"]
            time.sleep(0.2)
        assert status == "completed"
        assert _json(srv, "/api/info")["series_memory"]["used_bytes"] == 25 * 24
        shutil.rmtree(run.dir)  # a deleted run leaves the list, and its memory is not counted
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _json(srv, "/api/runs")["runs"]:
            time.sleep(0.2)
        assert _json(srv, "/api/runs")["runs"] == []
        assert _json(srv, "/api/info")["series_memory"]["used_bytes"] == 0
    finally:
        srv.stop()
