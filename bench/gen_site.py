"""Generate a large Jekyll site for benchmarks: N posts with tags, images and internal links.

    python bench/gen_site.py OUT [--posts 1000] [--seed 1]

The site uses the starter site's theme and plugins (minima, jekyll-feed, jekyll-seo-tag),
so it builds with Debian packages only. Every post links to earlier posts and to tag
pages, and every tenth post embeds an SVG image.
"""

from __future__ import annotations

import argparse
import random
import shutil
from datetime import date, timedelta
from pathlib import Path

WORDS = [
    "static",
    "site",
    "container",
    "image",
    "nginx",
    "jekyll",
    "layer",
    "cache",
    "build",
    "preview",
    "deploy",
    "registry",
    "digest",
    "health",
    "check",
    "markdown",
    "liquid",
    "template",
    "theme",
    "plugin",
    "debian",
    "package",
    "scratch",
    "binary",
    "library",
    "config",
    "header",
    "compress",
    "browser",
    "link",
    "page",
]
TAGS = ["docker", "jekyll", "nginx", "debian", "security", "performance", "notes", "howto"]


def _paragraph(rng: random.Random, words: int = 60) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _svg(index: int) -> str:
    hue = index * 37 % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 160" width="320" height="160">'
        f'<rect width="320" height="160" fill="hsl({hue},60%,45%)"/>'
        f'<text x="20" y="90" font-size="40" fill="#fff">#{index}</text></svg>\n'
    )


def generate(
    out: Path,
    posts: int,
    seed: int = 1,
    dead_links: int = 0,
    bad_fragments: int = 0,
    link_tags: int = 0,
) -> Path:
    """Write the site into `out` (which must not exist); return `out`.

    `dead_links` posts get a link to a page that does not exist, `bad_fragments` posts a
    link to an existing post with a fragment no element has: defects a checker must find.
    With `link_tags`, every post also links that many earlier posts with `{% link %}`, which
    walks every file of the site in Jekyll (the shape of a link-heavy site).
    """
    rng = random.Random(seed)
    template = Path(__file__).resolve().parent.parent / "site-template"
    shutil.copytree(template, out, ignore=shutil.ignore_patterns("_posts", "_site", "about.md"))
    (out / "about.md").write_text(
        "---\nlayout: page\ntitle: About\npermalink: /about/\n---\n\nA generated site.\n"
    )
    (out / "_posts").mkdir()
    (out / "tags").mkdir()
    (out / "assets" / "images" / "generated").mkdir(parents=True)
    start = date(2020, 1, 1)
    slugs: list[tuple[str, str]] = []  # (date path, slug)
    for index in range(posts):
        day = start + timedelta(days=index)
        slug = f"post-{index:05d}"
        tags = rng.sample(TAGS, 2)
        links = [
            f"[earlier post {j}]({{% post_url {d}-{s} %}})"
            for j, (d, s) in enumerate(rng.sample(slugs, min(len(slugs), 5)))
        ]
        links += [
            f"[linked {j}]({{% link _posts/{d}-{s}.md %}})"
            for j, (d, s) in enumerate(rng.sample(slugs, min(len(slugs), link_tags)))
        ]
        tag_links = " ".join(f"[#{t}]({{{{ '/tags/{t}/' | relative_url }}}})" for t in tags)
        image = ""
        if index % 10 == 0:
            name = f"img-{index:05d}.svg"
            (out / "assets" / "images" / "generated" / name).write_text(_svg(index))
            image = (
                f"\n![Figure {index}]({{{{ '/assets/images/generated/{name}' | relative_url }}}})\n"
            )
        body = "\n\n".join(_paragraph(rng) for _ in range(4))
        if index < dead_links:
            body += f"\n\n[A page that is gone](/gone/page-{index}.html)"
        elif index < dead_links + bad_fragments and slugs:
            d, s = slugs[0]
            body += f"\n\n[A missing section]({{% post_url {d}-{s} %}}#no-section-{index})"
        (out / "_posts" / f"{day.isoformat()}-{slug}.md").write_text(
            f'---\nlayout: post\ntitle: "Post {index}"\ntags: [{", ".join(tags)}]\n---\n\n'
            f"{body}\n{image}\nSee also: {', '.join(links) or 'nothing yet'}. Tags: {tag_links}\n"
        )
        slugs.append((day.isoformat(), slug))
    for tag in TAGS:
        (out / "tags" / f"{tag}.html").write_text(
            f'---\nlayout: page\ntitle: "Tag: {tag}"\npermalink: /tags/{tag}/\n---\n'
            f"<ul>{{% for post in site.tags.{tag} %}}"
            '<li><a href="{{ post.url | relative_url }}">{{ post.title }}</a></li>'
            "{% endfor %}</ul>\n"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dead-links", type=int, default=0, help="posts with a dead link")
    parser.add_argument("--bad-fragments", type=int, default=0, help="posts with a bad #fragment")
    parser.add_argument("--link-tags", type=int, default=0, help="{% link %}s in every post")
    args = parser.parse_args()
    generate(args.out, args.posts, args.seed, args.dead_links, args.bad_fragments, args.link_tags)
    print(args.out)


if __name__ == "__main__":
    main()
