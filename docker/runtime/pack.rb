# Precompress a site's text files for nginx's gzip_static and brotli_static.
#
#   ruby pack.rb ROOT CACHE MIN_BYTES BROTLI_QUALITY GLOB...
#
# Writes FILE.gz and FILE.br beside every FILE under ROOT that matches a GLOB and is at
# least MIN_BYTES long, unless the site already has its own FILE.gz / FILE.br, and then
# empties FILE (nginx inflates the .gz for a client that takes neither encoding). A FILE
# with a .gz or .br of the site's own keeps its bytes. Results are
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
ours = [] # files whose .gz and .br we wrote: their originals become placeholders
files.each do |name|
  path = File.join(root, name)
  next if File.exist?(path + ".gz") && File.exist?(path + ".br")
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
    ours << path unless File.exist?(path + ".br")
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

# nginx serves these from .gz/.br only (gzip_static always, gunzip for the rest); the
# empty original keeps its name, mode and mtime for index, try_files and Content-Type.
ours.each do |path|
  mtime = File.mtime(path)
  File.truncate(path, 0)
  File.utime(mtime, mtime, path)
end
warn "sitedeploy: precompressed #{files.size} files (#{to_brotli.size} new to brotli), " \
     "#{ours.size} kept compressed only"
