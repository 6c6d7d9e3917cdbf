# Precompress a site's text files for nginx's gzip_static and brotli_static.
#
#   ruby pack.rb ROOT CACHE MIN_BYTES BROTLI_QUALITY GLOB...
#
# Writes FILE.gz and FILE.br beside every FILE under ROOT that matches a GLOB and is at
# least MIN_BYTES long, unless the site already has its own FILE.gz / FILE.br. Results are
# kept in CACHE by the sha256 of the file's content (a BuildKit cache mount), so a rebuild
# after editing one post compresses one post, not the whole site. One process does the
# gzip work; brotli runs in batches, so a 1,000-page site does not fork 2,000 times.
require "digest"
require "fileutils"
require "zlib"

root, cache, min_bytes, quality, *globs = ARGV
min_bytes = Integer(min_bytes)
FileUtils.mkdir_p(cache)

files = Dir.glob("**/*", File::FNM_DOTMATCH, base: root).select do |name|
  path = File.join(root, name)
  File.file?(path) && !File.symlink?(path) && File.size(path) >= min_bytes &&
    globs.any? { |glob| File.fnmatch(glob, File.basename(name)) }
end

to_brotli = []
files.each do |name|
  path = File.join(root, name)
  key = File.join(cache, Digest::SHA256.file(path).hexdigest + "-q" + quality)
  unless File.exist?(path + ".gz")
    unless File.exist?(key + ".gz")
      Zlib::GzipWriter.open(key + ".gz.tmp", 9) do |gz|
        gz.mtime = 0
        gz.write(File.binread(path))
      end
      File.rename(key + ".gz.tmp", key + ".gz")
    end
    FileUtils.cp(key + ".gz", path + ".gz")
  end
  next if File.exist?(path + ".br")
  if File.exist?(key + ".br")
    FileUtils.cp(key + ".br", path + ".br")
  else
    to_brotli << [path, key]
  end
end

to_brotli.each_slice(64) do |batch|
  system("brotli", "-q", quality, "-k", "-f", "--", *batch.map(&:first), exception: true)
  batch.each { |path, key| FileUtils.cp(path + ".br", key + ".br") }
end
warn "sitedeploy: precompressed #{files.size} files (#{to_brotli.size} new to brotli)"
