# Loaded by sitedeploy into every `jekyll build` (from its own plugins folder, never the
# site's): lines that show the build is alive and how far it is. sitedeploy shows the
# latest on a terminal, and one every few seconds elsewhere.
module SitedeployProgress
  STARTED = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  EVERY = 2.0

  @last = STARTED
  @rendered = 0

  def self.seconds
    (Process.clock_gettime(Process::CLOCK_MONOTONIC) - STARTED).round
  end

  def self.say(text)
    $stdout.puts "sitedeploy: #{text} (#{seconds} s)"
    $stdout.flush
  end

  def self.rendered(site)
    @rendered += 1
    now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    return if now - @last < EVERY && @rendered > 1

    @last = now
    total = site.pages.size + site.documents.size
    say "rendered #{@rendered} of #{total} pages and documents"
  end

  def self.reset
    @rendered = 0
  end
end

Jekyll::Hooks.register :site, :post_read do |site|
  SitedeployProgress.reset
  SitedeployProgress.say "read #{site.pages.size} pages, #{site.documents.size} documents, " \
                         "#{site.static_files.size} static files"
end

Jekyll::Hooks.register [:pages, :documents], :post_render do |item|
  SitedeployProgress.rendered(item.site)
end

Jekyll::Hooks.register :site, :post_write do |_site|
  SitedeployProgress.say "written"
end
