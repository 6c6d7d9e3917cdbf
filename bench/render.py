"""The results as a Markdown table (bench/results/latest.md)."""

from __future__ import annotations

from typing import Any

from bench.common import ratio


def _row(
    site: str,
    measure: str,
    ours: object,
    classic: object = "",
    buildkit: object = "",
    ratio_text: object = "",
) -> str:
    cells = [site, measure, ours, classic, buildkit, "" if ratio_text is None else ratio_text]
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def _failed(measure: dict[str, int]) -> str:
    return f"{measure['socket_errors'] + measure['non_2xx']} / {measure['requests']}"


def _over_ssh(results: dict[str, Any]) -> list[str]:
    """Deploying to a server over SSH (a second daemon behind sshd), against by hand."""
    lines = [
        "",
        "Deploy to a server over SSH (a second Docker daemon behind sshd); the baseline: "
        "BuildKit, `docker save | ssh … docker load`, `docker rm -f` + `docker run`",
        "",
        "| site | measure | sitedeploy streamed | sitedeploy via registry | baseline "
        "| streamed / baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, site in results["sites"].items():
        o = site.get("over_ssh")
        if not o:
            continue
        first, warm = o["first_deploy_seconds"], o["warm_redeploy_seconds"]
        failed, wrk = o["failed_requests_during_redeploys"], o["redeploy_under_wrk"]
        sent = o["warm_redeploy_sent"]
        lines += [
            f"| {name} | first deploy (s) | {first['sitedeploy']} | | {first['baseline']} "
            f"| {ratio(first['sitedeploy'], first['baseline'])} |",
            f"| {name} | warm redeploy, edit-to-served (s) | {warm['stream']} | "
            f"{warm['registry']} | {warm['baseline']} | {o['stream_vs_baseline']} |",
            f"| {name} | failed requests during those redeploys | {failed['stream']} | "
            f"{failed['registry']} | {failed['baseline']} | |",
            f"| {name} | redeploy under wrk: socket errors + non-2xx / requests "
            f"| {_failed(wrk['sitedeploy'])} | | {_failed(wrk['baseline'])} | |",
            f"| {name} | layers (kB) a warm redeploy streamed | {sent['layers_sent']} "
            f"({(sent['bytes_sent'] or 0) // 1024}) | | | |",
            f"| {name} | rollback (s) | {o['rollback_seconds']} | | | |",
        ]
    return lines


def _platforms(results: dict[str, Any]) -> list[str]:
    """Publishing for amd64 alone against one index for amd64 and arm64."""
    lines = [
        "",
        "Publish to a registry on loopback: amd64 alone against one index for amd64 and arm64 "
        "(cold: empty repository, no arm64 runtime yet; warm: after one post's edit)",
        "",
        "| site | measure | amd64 | amd64 + arm64 | two / one |",
        "|---|---|---|---|---|",
    ]
    for name, site in results["sites"].items():
        p = site.get("platforms")
        if not p:
            continue
        cold, warm = p["cold_seconds"], p["warm_seconds"]
        pull, unpacked = p["pull_bytes"], p["unpacked_bytes"]
        lines += [
            f"| {name} | cold publish (s) | {cold['one']} | {cold['two']} | {p['cold_ratio']} |",
            f"| {name} | warm publish (s) | {warm['one']} | {warm['two']} | {p['warm_ratio']} |",
            f"| {name} | image MB, unpacked (pull, compressed) | "
            f"{_mb(unpacked['linux/amd64'])} ({_mb(pull['linux/amd64'])}) | arm64: "
            f"{_mb(unpacked['linux/arm64'])} ({_mb(pull['linux/arm64'])}) | |",
        ]
    return lines


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# sitedeploy vs plain Docker ({results['mode']}, medians of {results['runs']} runs)",
        "",
        "| site | measure | sitedeploy | baseline classic | baseline BuildKit | ours / BuildKit |",
        "|---|---|---|---|---|---|",
    ]
    for name, site in results["sites"].items():
        b, e, s = site["builds"], site["edit_to_served"], site["sizes"]
        cold, warm = b["cold_seconds"], b["warm_seconds"]
        served, failed = e["seconds"], e["failed_requests_while_redeploying"]
        lines += [
            _row(
                name,
                "cold build (s)",
                cold["sitedeploy"],
                cold["classic"],
                cold["buildkit"],
                b["cold_ratio_vs_buildkit"],
            ),
            _row(
                name,
                "warm rebuild, one post edited (s)",
                warm["sitedeploy"],
                warm["classic"],
                warm["buildkit"],
                b["warm_ratio_vs_buildkit"],
            ),
            _row(
                name,
                "edit-to-served (s)",
                served["sitedeploy"],
                "",
                served["baseline_buildkit"],
                ratio(served["sitedeploy"], served["baseline_buildkit"]),
            ),
            _row(
                name,
                "failed requests while redeploying",
                failed["sitedeploy"],
                "",
                failed["baseline_buildkit"],
            ),
            _row(name, "bare `jekyll build`, no cache (s)", site["bare_jekyll_seconds"]),
            _row(
                name,
                "Bundler build / Debian build, cold (s)",
                site["gem_ways"]["cold_seconds"]["bundler"],
                "",
                site["gem_ways"]["cold_seconds"]["debian"],
                ratio(
                    site["gem_ways"]["cold_seconds"]["bundler"],
                    site["gem_ways"]["cold_seconds"]["debian"],
                ),
            ),
            _row(
                name,
                "Bundler build / Debian build, one post edited (s)",
                site["gem_ways"]["warm_seconds"]["bundler"],
                "",
                site["gem_ways"]["warm_seconds"]["debian"],
                site["gem_ways"]["warm_ratio_bundler_vs_debian"],
            ),
            _row(
                name,
                "final image (MB)",
                _mb(s["sitedeploy"]["final"]),
                "",
                _mb(s["baseline"]["final"]),
                s["final_ratio"],
            ),
            _row(
                name,
                "compressed image (MB)",
                _mb(s["sitedeploy"]["compressed"]),
                "",
                _mb(s["baseline"]["compressed"]),
                s["compressed_ratio"],
            ),
            _row(
                name,
                "builder image (MB)",
                _mb(s["sitedeploy"]["builder"]),
                "",
                _mb(s["baseline"]["builder"]),
            ),
        ]
        w = site["watch"]["seconds"]
        buildkit_served = site["edit_to_served"]["seconds"]["baseline_buildkit"]
        lines += [
            _row(
                name,
                "watch: edit-to-served, hot loop (s)",
                w["sitedeploy_hot"],
                "",
                buildkit_served,
                ratio(w["sitedeploy_hot"], buildkit_served),
            ),
            _row(
                name,
                "watch: whole site regenerated and served, hot loop (s)",
                w["sitedeploy_hot_whole_site"],
                "",
                buildkit_served,
                ratio(w["sitedeploy_hot_whole_site"], buildkit_served),
            ),
            _row(name, "watch: edit-to-served, full build per save (s)", w["sitedeploy_full"]),
            _row(
                name,
                "watch: `jekyll build --watch`, warm (s) / hot loop minus it",
                w["jekyll_watch"],
                "",
                "",
                f"{site['watch']['hot_over_jekyll_seconds']:+} s",
            ),
            _row(name, "watch: edit shown in a browser by live reload (s)", w["browser_hot"]),
        ]
        v = site["serving"]
        server, front, base = v["sitedeploy_server"], v["sitedeploy_front"], v["baseline"]
        for kind in ("page", "css"):
            lines += [
                _row(
                    name,
                    f"wrk {kind} req/s (server / front)",
                    f"{server[kind]['requests_per_second']:.0f} / "
                    f"{front[kind]['requests_per_second']:.0f}",
                    "",
                    f"{base[kind]['requests_per_second']:.0f}",
                    ratio(server[kind]["requests_per_second"], base[kind]["requests_per_second"]),
                ),
                _row(
                    name,
                    f"wrk {kind} p99 ms (server / front)",
                    f"{server[kind]['p99_ms']} / {front[kind]['p99_ms']}",
                    "",
                    base[kind]["p99_ms"],
                ),
                _row(
                    name,
                    f"wrk {kind} through the port / the site container: req/s, p99",
                    f"{v['front_vs_server'][kind]['rps_ratio']}, "
                    f"{v['front_vs_server'][kind]['p99_ratio']}",
                    "",
                    "",
                ),
            ]
        tls = site["https"]
        lines.append(
            _row(
                name,
                "wrk page through the front: HTTPS / plain HTTP req/s (p99 ms)",
                f"{tls['https']['requests_per_second']:.0f} ({tls['https']['p99_ms']}) / "
                f"{tls['http']['requests_per_second']:.0f} ({tls['http']['p99_ms']})",
                "",
                "",
                tls["rps_ratio"],
            )
        )
        failed = {
            key: f"{m['socket_errors'] + m['non_2xx']} / {m['requests']}"
            for key, m in site["redeploy_under_wrk"].items()
        }
        lines.append(
            _row(
                name,
                "redeploy under wrk: socket errors + non-2xx / requests",
                failed["sitedeploy"],
                "",
                failed["baseline_buildkit"],
            )
        )
        for kind in ("html", "css"):
            lines.append(
                _row(
                    name,
                    f"{kind.upper()} bytes: plain / gzip (ours: / br)",
                    f"{server['bytes_plain'][kind]} / {server['bytes_gzip'][kind]} / "
                    f"{server['bytes_br'][kind]}",
                    "",
                    f"{base['bytes_plain'][kind]} / {base['bytes_gzip'][kind]}",
                    v["text_bytes_ratio"][kind],
                )
            )
        c = site["checks"]
        lines += [
            _row(
                name,
                "check (s): ours, html-proofer, linkchecker",
                c["seconds"]["sitedeploy"],
                c["seconds"]["html_proofer"],
                c["seconds"]["linkchecker"],
                f"{c['speedup_vs_fastest']}x faster than the faster",
            ),
            _row(
                name,
                "errors found: ours, html-proofer, linkchecker",
                c["errors_found"]["sitedeploy"],
                c["errors_found"]["html_proofer"],
                c["errors_found"]["linkchecker"],
            ),
        ]
    lines += _over_ssh(results)
    lines += _platforms(results)
    heavy = results.get("link_heavy")
    if heavy:
        t = heavy["seconds"]
        lines += [
            "",
            f"Link-heavy site: {heavy['posts']} posts, {heavy['links_per_post']} "
            "`{% link %}`s each, `jekyll build` in the Debian builder image",
            "",
            "| Debian's Jekyll as it is (s) | with the upstream fix (s) | fixed / as is "
            "| upstream Jekyll (s) | same pages |",
            "|---|---|---|---|---|",
            f"| {t['debian_as_is']} | {t['debian_fixed']} | {heavy['fixed_vs_as_is']} "
            f"| {t['upstream'] if t['upstream'] is not None else heavy['upstream']} "
            f"| {'yes' if heavy['same_pages'] else 'no'} |",
        ]
    return "\n".join(lines) + "\n"
