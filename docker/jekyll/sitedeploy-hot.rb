# sitedeploy's hot builder: one Jekyll site kept in memory between saves (`up --watch`).
#
#   ruby sitedeploy-hot.rb HOT_DIR CONFIGS BASEURL BROTLI_QUALITY MIN_BYTES GLOB...
#
# Runs in a container of the site's builder image (Jekyll, its plugins and the site's
# sources in /site/src, as `jekyll build` had them). It builds once to warm Jekyll's
# caches, writes HOT_DIR/ready.json (the sha256 of every source file, so sitedeploy can
# send what changed since), then serves requests: sitedeploy copies changed sources in and
# writes HOT_DIR/requests/N; this regenerates the site in the same process (as
# `jekyll build --watch` does), and writes
# HOT_DIR/out/N/ — every changed file as Jekyll wrote it (orig/) and as nginx will serve it
# (www/, precompressed by pack.rb) — and then HOT_DIR/responses/N.json (changed and
# removed files, seconds, or Jekyll's error).
require "digest"
require "fileutils"
require "json"
require "jekyll"

hot, configs, baseurl, quality, min_bytes, *globs = ARGV
source = "/site/src"
destination = "/site/_site"
%w[requests responses out].each { |name| FileUtils.mkdir_p(File.join(hot, name)) }

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

site = load_site(source, destination, configs)
site.process
written = digests(destination)
write_json(File.join(hot, "ready.json"), { "sources" => digests(source) })

loop do
  request = Dir.children(File.join(hot, "requests")).reject { |n| n.end_with?(".new") }.min_by(&:to_i)
  if request.nil?
    sleep 0.01
    next
  end
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  response = begin
    site.process
    processed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    now = digests(destination)
    changed = now.keys.select { |name| written[name] != now[name] }
    removed = written.keys - now.keys
    written = now
    out = File.join(hot, "out", request)
    changed.each do |name|
      %W[#{out}/orig/#{name} #{out}/www#{baseurl}/#{name}].each do |copy|
        FileUtils.mkdir_p(File.dirname(copy))
        FileUtils.cp(File.join(destination, name), copy)
      end
    end
    FileUtils.mkdir_p(File.join(out, "www"))
    unless changed.empty?
      system("ruby", File.join(hot, "pack.rb"), File.join(out, "www"), File.join(hot, "cache"),
             min_bytes, quality, *globs, exception: true, err: File::NULL)
    end
    { "changed" => changed, "removed" => removed, "jekyll_seconds" => processed }
  rescue StandardError, ScriptError => e
    { "error" => "#{e.class}: #{e.message}" }
  end
  response["seconds"] = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  write_json(File.join(hot, "responses", "#{request}.json"), response)
  File.delete(File.join(hot, "requests", request))
end
