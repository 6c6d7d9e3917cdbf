from deployer.suggest import did_you_mean


def test_the_nearest_known_name() -> None:
    assert did_you_mean("hots", ["host", "port"]) == " (did you mean host?)"
    assert (
        did_you_mean("imagez", ["images"], shown=lambda n: f"[{n}]") == " (did you mean [images]?)"
    )


def test_nothing_when_nothing_is_close_or_the_name_is_known() -> None:
    assert did_you_mean("zzz", ["host", "port"]) == ""
    assert did_you_mean("companions", ["mode", "allow", "companions"]) == ""
