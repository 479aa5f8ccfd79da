"""The pgbench scripts of bench/pgbench.py, from recorded statements (no database)."""

from __future__ import annotations

import pytest
from bench.pgbench import (
    Script,
    Statement,
    _pgbench_env,
    drawn_id_script,
    parse_pgbench,
    render_script,
    variants_script,
)

PAGE = (
    "SELECT x FROM t WHERE t.a = 1 AND t.name LIKE $1::VARCHAR OR t.email LIKE $1::VARCHAR "
    "AND t.j = '{}'::jsonb AND t.s = '$2' LIMIT $2::BIGINT OFFSET $3::BIGINT"
)


def test_parameters_become_pgbench_variables() -> None:
    script = Script(
        [
            Statement("SET plan_cache_mode = force_custom_plan", ()),
            Statement(PAGE, ("%smith%", 16, 0)),
        ]
    )
    text, defines = render_script(script, "s0")
    assert defines == {"s0_1_1": "%smith%"}
    assert text == (
        "SET plan_cache_mode = force_custom_plan;\n"
        "\\set s0_1_2 16\n"
        "\\set s0_1_3 0\n"
        "SELECT x FROM t WHERE t.a = 1 AND t.name LIKE :s0_1_1::VARCHAR OR "
        "t.email LIKE :s0_1_1::VARCHAR AND t.j = '{}'::jsonb AND t.s = '$2' "
        "LIMIT :s0_1_2::BIGINT OFFSET :s0_1_3::BIGINT;\n"
    )


def test_arrays_booleans_and_null() -> None:
    statement = Statement(
        "SELECT 1 WHERE a = ANY ($1::VARCHAR[]) AND b = $2 AND c IS NOT DISTINCT FROM $3",
        (['x"y', "a\\b", None], True, None),
    )
    text, defines = render_script(Script([statement]), "t")
    assert defines == {"t_0_1": '{"x\\"y","a\\\\b",NULL}'}
    assert "\\set t_0_2 true\n" in text
    assert text.endswith(
        "a = ANY (:t_0_1::VARCHAR[]) AND b = :t_0_2 AND c IS NOT DISTINCT FROM NULL;\n"
    )


def test_a_colon_pgbench_would_misread_is_refused() -> None:
    statement = Statement("SELECT to_char(now(), 'HH24:MI') WHERE a = $1", (1,))
    with pytest.raises(ValueError, match=r"pgbench would read :MI"):
        render_script(Script([statement]), "s0")


def test_the_id_of_a_show_is_drawn() -> None:
    sql = "SELECT doc FROM contacts WHERE account_id = 7 AND id = $1::BIGINT"
    script = drawn_id_script([Statement(sql, (10,))], [Statement(sql, (99,))], 10, 99)
    text, defines = render_script(script, "s0")
    assert defines == {}
    assert text == (
        "\\set contact_id random(10, 99)\n"
        "SELECT doc FROM contacts WHERE account_id = 7 AND id = :contact_id::BIGINT;\n"
    )
    with pytest.raises(RuntimeError, match="beyond the id"):
        drawn_id_script([Statement(sql, (10, 1))], [Statement(sql, (99, 2))], 10, 99)


def test_requests_that_differ_in_arguments_share_one_script() -> None:
    sql = "SELECT p FROM c WHERE email = ANY ($1::VARCHAR[]) LIMIT $2::BIGINT"
    recorded = [[Statement(sql, ([email], 16))] for email in ("a@x.test", "o'b@x.test")]
    text, defines = render_script(variants_script(recorded), "s0")
    assert defines == {}
    assert text == (
        "\\set pick random(1, 2)\n"
        "SELECT (ARRAY['{\"a@x.test\"}', '{\"o''b@x.test\"}'])[:pick] AS drawn_0_1 \\gset\n"
        "\\set s0_0_2 16\n"
        "SELECT p FROM c WHERE email = ANY (:drawn_0_1::VARCHAR[]) LIMIT :s0_0_2::BIGINT;\n"
    )
    with pytest.raises(RuntimeError, match="different statements"):
        variants_script([[Statement(sql, (["a"], 1))], [Statement("SELECT 2", ())]])


def test_pgbench_summary() -> None:
    output = """transaction type: multiple scripts
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 3092
number of failed transactions: 0 (0.000%)
latency average = 62.640 ms
initial connection time = 45.678 ms
tps = 1021.812345 (without initial connection time)
"""
    assert parse_pgbench(output) == (1021.812345, 62.64, 3092, 0)


def test_pgbench_sessions_are_set_as_the_services() -> None:
    """The service's server settings, plus a script's own (a request planned for its
    arguments runs on connections set so, driver.ReadPool.planned)."""
    url = "postgresql://postgres@127.0.0.1:5432/bench"
    plain = _pgbench_env(url)["PGOPTIONS"]
    assert "-c jit=off" in plain
    assert "plan_cache_mode" not in plain
    planned = _pgbench_env(url, {"plan_cache_mode": "force_custom_plan"})["PGOPTIONS"]
    assert planned == plain + " -c plan_cache_mode=force_custom_plan"
