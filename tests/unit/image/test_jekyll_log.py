from deployer.image.jekyll_log import bundler_error, jekyll_error, jekyll_warnings

LIQUID_FAILURE = """Configuration file: /site/src/_config.yml
            Source: /site/src
       Destination: /site/_site
      Generating...
       Jekyll Feed: Generating feed for posts
\x1b[31m  Liquid Exception: Liquid syntax error (line 3): 'if' tag was never closed in /site/src/_posts/2026-04-01-bad.md\x1b[0m
\x1b[31m                    ------------------------------------------------\x1b[0m
\x1b[31m      Jekyll 4.3.1   Please append `--trace` to the `build` command \x1b[0m
\x1b[31m                     for any additional information or backtrace. \x1b[0m
\x1b[31m                    ------------------------------------------------\x1b[0m
/usr/share/rubygems-integration/all/gems/liquid-5.4.0/lib/liquid/block.rb:52:in `raise_tag_never_closed': Liquid syntax error (line 3): 'if' tag was never closed (Liquid::SyntaxError)
\tfrom /usr/share/rubygems-integration/all/gems/jekyll-4.3.1/lib/jekyll/site.rb:562:in `block in render_docs'
\tfrom /usr/bin/jekyll:25:in `<main>'
""".splitlines()

YAML_FAILURE = """      Generating...
\x1b[31m             Error: YAML Exception reading /site/src/_posts/bad.md: (<unknown>): found unexpected end of stream while scanning a quoted scalar at line 3 column 8\x1b[0m
/usr/lib/ruby/3.1.0/psych.rb:455:in `parse': (<unknown>): found unexpected end of stream (Psych::SyntaxError)
\tfrom <internal:kernel>:90:in `tap'
""".splitlines()


def test_liquid_error_is_jekylls_own_line_with_site_relative_path() -> None:
    assert jekyll_error(LIQUID_FAILURE) == (
        "Liquid Exception: Liquid syntax error (line 3): 'if' tag was never closed "
        "in _posts/2026-04-01-bad.md"
    )


def test_yaml_front_matter_error() -> None:
    message = jekyll_error(YAML_FAILURE)
    assert message.startswith("Error: YAML Exception reading _posts/bad.md:")
    assert "line 3 column 8" in message
    assert "psych.rb" not in message


def test_ruby_exception_without_a_jekyll_line_is_used_without_its_location() -> None:
    lines = [
        "/usr/lib/ruby/x.rb:1:in `y': something broke (RuntimeError)",
        "\tfrom /usr/bin/jekyll",
    ]
    assert jekyll_error(lines) == "something broke (RuntimeError)"


def test_no_backtrace_ever() -> None:
    assert "from /usr" not in jekyll_error(LIQUID_FAILURE)
    assert jekyll_error(["\tfrom /usr/bin/jekyll:25:in `<main>'"]) == (
        "jekyll build failed without a message"
    )


def test_warnings() -> None:
    lines = [
        "\x1b[33m     Build Warning: Layout 'nolayout' requested in /site/src/_posts/a.md does not exist.\x1b[0m",
        "       Deprecation: The 'gems' configuration option has been renamed to 'plugins'.",
        "                    done in 0.247 seconds.",
    ]
    assert jekyll_warnings(lines) == [
        "Build Warning: Layout 'nolayout' requested in _posts/a.md does not exist.",
        "Deprecation: The 'gems' configuration option has been renamed to 'plugins'.",
    ]


def test_the_cause_behind_jekylls_exit_is_the_reason() -> None:
    lines = [
        "   GitHub Metadata: Error processing value 'baseurl':",
        "/usr/share/rubygems-integration/all/gems/jekyll-4.3.1/lib/jekyll/command.rb:33:in `exit': exit (SystemExit)",
        "\tfrom /usr/bin/jekyll:25:in `<main>'",
        "/usr/share/rubygems-integration/all/gems/jekyll-github-metadata-2.15.0/lib/jekyll-github-metadata/repository_finder.rb:29:in `block in nwo': No repo name found. (Jekyll::GitHubMetadata::RepositoryFinder::NoRepositoryError)",
    ]
    assert jekyll_error(lines) == (
        "No repo name found. (Jekyll::GitHubMetadata::RepositoryFinder::NoRepositoryError)"
    )


def test_bundler_errors_get_their_fix() -> None:
    removed = [
        "Fetching source index from http://127.0.0.1:5000/",
        "Your bundle is locked to jekyll-x (9.9.9) from rubygems repository",
        "http://127.0.0.1:5000/ or installed locally, but that version can no longer be",
        "found in that source.",
    ]
    assert "asks for a gem or version that no gem source here has" in bundler_error(removed)
    frozen = [
        "You are trying to install in deployment mode after changing",
        "your Gemfile. Run `bundle install` elsewhere and add the",
        "updated Gemfile.lock to version control.",
    ]
    assert "Gemfile.lock does not match Gemfile" in bundler_error(frozen)
    assert bundler_error([]) == "bundle install failed without a message"
