# sitedeploy's hot builder: one Jekyll site kept in memory between saves (`up --watch`).
#
#   ruby sitedeploy-hot.rb HOT_DIR CONFIGS BASEURL BROTLI_QUALITY MIN_BYTES GLOB...
#
# Runs in a container of the site's builder image (Jekyll, its plugins and the site's
# sources in /site/src, as `jekyll build` had them). It builds once to warm Jekyll's
# caches, writes HOT_DIR/ready.json (the sha256 of every source file, so sitedeploy can
# send what changed since), then serves requests: sitedeploy copies changed sources in and
# writes HOT_DIR/requests/N (a JSON list of the changed sources), then a line to the FIFO
# HOT_DIR/wake, which this waits on between requests. Each request gets two
# answers, each with the files it changed as Jekyll wrote them (out/…/orig/) and as nginx
# will serve them (out/…/www/, precompressed by pack.rb):
#
# 1. responses/N.first.json — the edited pages first: when every changed source is a post,
#    a collection document or a plain page whose URL stays, and the site's generators only
#    add pages of their own (ADDING_ONLY), only they are read again and rendered against the
#    site in memory (out/N.first/). Otherwise it says why it skipped.
# 2. responses/N.json — the whole site regenerated in the same process, as
#    `jekyll build --watch` does (out/N/): what changed beyond the first answer, the files
#    no longer written, or Jekyll's error.
require "digest"
require "fileutils"
require "json"
require "jekyll"

hot, configs, baseurl, quality, min_bytes, *globs = ARGV
source = "/site/src"
destination = "/site/_site"
%w[requests responses out].each { |name| FileUtils.mkdir_p(File.join(hot, name)) }
wake = File.join(hot, "wake") # sitedeploy writes a line here after each request: no polling
File.mkfifo(wake) unless File.exist?(wake)

def digests(root)
  Dir.glob("**/*", File::FNM_DOTMATCH, base: root).each_with_object({}) do |name, found|
    next if name.start_with?(".jekyll-cache/", ".sass-cache/", ".jekyll-metadata")

    path = File.join(root, name)
    found[name] = Digest::SHA256.file(path).hexdigest if File.file?(path) && !File.symlink?(path)
  end
end

def load_site(source, destination, configs)
  options = Jekyll.configuration(
    "source" => source, "destination" => destination, "config" => configs.split(","),
    "quiet" => true
  )
  Jekyll::Site.new(options)
end

def write_json(path, data)
  File.write("#{path}.tmp", JSON.generate(data))
  File.rename("#{path}.tmp", path)
end

def write_outputs(changed, destination, out, baseurl, hot, packing)
  changed.each do |name|
    %W[#{out}/orig/#{name} #{out}/www#{baseurl}/#{name}].each do |copy|
      FileUtils.mkdir_p(File.dirname(copy))
      FileUtils.cp(File.join(destination, name), copy)
    end
  end
  FileUtils.mkdir_p(File.join(out, "www"))
  return if changed.empty?

  # pack.rb needs Ruby's standard library only: without RubyGems (and Bundler's RUBYOPT,
  # under `bundle exec`) it starts in a tenth of the time.
  system({ "RUBYOPT" => nil, "RUBYLIB" => nil },
         "ruby", "--disable-gems", File.join(hot, "pack.rb"), File.join(out, "www"),
         File.join(hot, "cache"), *packing, exception: true, err: File::NULL)
end

# Generators that only add pages of their own (a feed, a sitemap, archives, redirect pages):
# an edited page renders the same without running them again. Any other generator may shape
# the pages themselves (GitHub Pages' default layouts, titles from headings, relative links,
# a site's own plugins), so the edited pages cannot go first without it.
ADDING_ONLY = %w[
  JekyllFeed::Generator Jekyll::JekyllSitemap Jekyll::Paginate::Pagination
  Jekyll::Archives::Archives JekyllRedirectFrom::Generator
].freeze

# The item (a document or a plain page) `relative` was read from, read again; or why the
# edited pages cannot go first (the whole-site answer then does everything).
def reread(site, relative)
  path = File.join(site.source, relative)
  return [nil, "#{relative} is gone"] unless File.file?(path)

  old = site.documents.find { |doc| doc.path == path }
  if old
    fresh = Jekyll::Document.new(path, site: site, collection: old.collection)
    fresh.read
    return [nil, "#{relative} is not published now"] unless site.publisher.publish?(fresh)
  else
    old = site.pages.find { |page| page.instance_of?(Jekyll::Page) && page.relative_path == relative }
    return [nil, "#{relative} is not a page or post"] if old.nil?
    return [nil, "the site paginates"] if site.config["paginate"] || old.pager

    dir = File.dirname(relative)
    fresh = Jekyll::Page.new(site, site.source, dir == "." ? "" : dir, File.basename(relative))
  end
  return [nil, "#{relative} has a new URL"] unless fresh.url == old.url && fresh.write? == old.write?
  return [nil, "#{relative} redirects"] if (fresh.data.keys & %w[redirect_to redirect_from]).any?

  [[old, fresh], nil]
end

# The edited pages first: swap them into the site in memory and render only them.
def first_pass(site, sources)
  shaping = site.generators.map { |generator| generator.class.name } - ADDING_ONLY
  unless shaping.empty?
    return [nil, "the site's generators may change its pages (#{shaping.join(", ")})"]
  end

  # Files Jekyll does not read (an editor's backup, swap or lock file, an excluded file)
  # change nothing the edited pages render from.
  filter = Jekyll::EntryFilter.new(site)
  read = sources.reject do |relative|
    name = File.basename(relative)
    unread = name.start_with?(".", "#") || filter.backup?(name)
    (unread && !filter.included?(name)) || filter.excluded?(relative)
  end
  return [nil, "nothing Jekyll reads changed"] if read.empty?

  pairs = []
  read.each do |relative|
    pair, why = reread(site, relative)
    return [nil, why] if pair.nil?

    pairs << pair
  end
  pairs.each do |old, fresh|
    list = old.is_a?(Jekyll::Document) ? old.collection.docs : site.pages
    list[list.index { |item| item.equal?(old) }] = fresh
  end
  site.instance_variable_set(:@post_attr_hash, {}) # site.tags and categories, read again
  site.liquid_renderer.cache.clear # templates are cached by file name, the edited ones too
  payload = site.site_payload
  Jekyll::Hooks.trigger :site, :pre_render, site, payload
  pairs.each do |_old, fresh|
    fresh.renderer.payload = payload
    fresh.output = fresh.renderer.run
    fresh.trigger_hooks(:post_render)
    fresh.write(site.dest) if fresh.write?
  end
  [pairs.select { |_old, fresh| fresh.write? }.map { |_old, fresh| fresh.destination(site.dest) }, nil]
end

def seconds_since(started)
  Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
end

site = load_site(source, destination, configs)
site.process
written = digests(destination)
write_json(File.join(hot, "ready.json"), { "sources" => digests(source) })

packing = [min_bytes, quality, *globs]
loop do
  request = Dir.children(File.join(hot, "requests")).reject { |n| n.end_with?(".new") }.min_by(&:to_i)
  if request.nil?
    File.open(wake, "r", &:read) # blocks until sitedeploy opens it, and closes it
    next
  end
  sources = JSON.parse(File.read(File.join(hot, "requests", request)))
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  first = begin
    paths, why = first_pass(site, sources)
    if paths
      rendered = seconds_since(started)
      changed = paths.filter_map do |full|
        name = full.delete_prefix("#{destination}/")
        digest = Digest::SHA256.file(full).hexdigest
        next if written[name] == digest

        written[name] = digest
        name
      end
      write_outputs(changed, destination, File.join(hot, "out", "#{request}.first"), baseurl, hot, packing)
      { "changed" => changed, "jekyll_seconds" => rendered }
    else
      { "skipped" => why }
    end
  rescue StandardError, ScriptError => e
    { "skipped" => "#{e.class}: #{e.message}" } # the whole-site pass reports Jekyll's errors
  end
  first["seconds"] = seconds_since(started)
  write_json(File.join(hot, "responses", "#{request}.first.json"), first)

  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  response = begin
    site.process
    processed = seconds_since(started)
    now = digests(destination)
    changed = now.keys.select { |name| written[name] != now[name] }
    removed = written.keys - now.keys
    written = now
    write_outputs(changed, destination, File.join(hot, "out", request), baseurl, hot, packing)
    { "changed" => changed, "removed" => removed, "jekyll_seconds" => processed }
  rescue StandardError, ScriptError => e
    { "error" => "#{e.class}: #{e.message}" }
  end
  response["seconds"] = seconds_since(started)
  write_json(File.join(hot, "responses", "#{request}.json"), response)
  File.delete(File.join(hot, "requests", request))
end
