"""bench/run.py's pure parts: which rows --only selects, the server command lines, the refresh
token chunks, and the table (ratios, targets, the peer's columns, "-" where a figure is missing).
The benchmark itself runs with `make bench`, not here."""

from __future__ import annotations

from pathlib import Path

from bench import run
from bench.run import LOGIN_KEYS, NAMES, TARGETS, Measured, Scenario, Server, TokenFeed, render, selected, server_from


def test_every_row_has_a_target():
    assert set(NAMES) == set(TARGETS) | set(LOGIN_KEYS)


def test_only_selects_by_key_or_by_a_word_of_the_name():
    assert selected("cc_opaque", None)
    assert selected("cc_opaque", "floor,opaque")
    assert selected("floor", "floor,opaque")
    assert not selected("cc_jwt", "floor,opaque")
    assert selected("code_pkce", "code_pkce")
    assert selected("login_mfa", "login")  # "login" names both password rows, as before
    assert not selected("refresh", "cleanup,servers")


def test_server_command_lines():
    gunicorn = server_from("gunicorn-sync").command("py", "settings.wsgi", 8000)
    assert gunicorn[:4] == ["py", "-m", "gunicorn", "settings.wsgi"]
    assert "sync" in gunicorn and "--no-control-socket" in gunicorn
    assert gunicorn[gunicorn.index("-w") + 1] == "3"
    gthread = server_from("gunicorn-gthread").command("py", "settings.wsgi", 8000)
    assert "gthread" in gthread and gthread[gthread.index("--threads") + 1] == "4"
    granian = server_from("granian", threads=2).command("py", "bench.floor_app", 8000)
    assert granian[:5] == ["py", "-m", "granian", "--interface", "wsgi"]
    assert "bench.floor_app:application" in granian
    assert granian[granian.index("--blocking-threads") + 1] == "2"
    assert run.REFERENCE_SERVER == Server("gunicorn-sync", 3)


def test_refresh_tokens_are_handed_out_once(tmp_path: Path):
    source = tmp_path / "tokens.txt"
    source.write_text("\n".join(f"t{n}" for n in range(25)) + "\n")
    feed = TokenFeed(source, tmp_path, per_second=10)
    first, first_count = feed.chunk(1)
    second, second_count = feed.chunk(2)
    assert (first_count, second_count) == (10, 15)
    assert not set(first.read_text().split()) & set(second.read_text().split())


def measured(rate: float) -> Measured:
    return Measured(rate, {"p50_us": 2000, "p99_us": 9000}, [round(rate)], 0, round(rate))


class Args:
    runs, duration, warmup, without_rls, without_spool = 3, 10, 3, False, False


def table(ours: dict, theirs: dict, counts: dict) -> list[str]:
    scenarios = [Scenario(key, NAMES[key], "", {}, 8, "") for key in ours]
    text = render(Args(), server_from("gunicorn-sync"), "15", (2000.0, 1900.0), 40.0, scenarios, ours, theirs,
                  [100.0, 110.0], [70.0], counts, "", [], [], "Audit trail after the run: ok.", 60.0,
                  (1.0, 0.0, 60.0))
    return text.splitlines()


def row(lines: list[str], key: str) -> list[str]:
    line = next(line for line in lines if line.startswith(f"| {NAMES[key]} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_ratios_targets_and_peer_columns():
    lines = table(
        {"floor": measured(1600), "cc_opaque": measured(300), "cc_jwt": measured(1200), "login": measured(36)},
        {"floor": measured(1000), "cc_opaque": measured(250), "login": measured(30)},
        {"floor": {"instructions": 3_410_000, "statements": 0}})
    floor = row(lines, "floor")
    assert floor[1:7] == ["1600", "1000", "1.60", "0.800", "≥ 0.7", "yes"]
    assert floor[9:11] == ["3.41 M", "0"]
    opaque = row(lines, "cc_opaque")
    assert opaque[3:7] == ["1.20", "0.150", "≥ 0.226", "no (reference, peer)"]
    assert opaque[9:11] == ["-", "-"]  # no instruction count for this row
    jwt = row(lines, "cc_jwt")
    assert jwt[2] == "250 (opaque)"  # the JWT row's peer: DOT's opaque grant
    assert jwt[3] == "4.80"
    login = row(lines, "login")
    assert login[4] == "0.018 (0.90 of the ceiling)" and login[6] == "no (peer)"
    rss = next(line for line in lines if line.startswith("| RSS per worker"))
    assert "110 (max of 100, 110)" in rss and "70 (max of 70)" in rss and "| yes |" in rss
    assert any("2000/s in this run (and 1900/s in the servers section" in line for line in lines)
    assert lines[-1] == "Whole run: 1.0 min." and "Audit trail after the run: ok." in lines
