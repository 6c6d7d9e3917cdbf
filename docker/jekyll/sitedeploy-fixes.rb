# Upstream Jekyll fixes that Debian's Jekyll lacks. sitedeploy loads this file into the
# Debian way's `jekyll build` and hot builder (`ruby -r`, before Jekyll reads the site, so
# it works under `safe: true` as well), never into a Bundler build: there the site's own
# Jekyll runs as its lock says. Each fix applies only to the versions that have the bug.
require "jekyll"

module SitedeployFixes
  VERSION = Gem::Version.new(Jekyll::VERSION)

  def self.affected?(first, fixed_in)
    Gem::Version.new(first) <= VERSION && VERSION < Gem::Version.new(fixed_in)
  end
end

# jekyll/jekyll#9179, fixed by #9187 in 4.3.2: Site#each_site_file de-duplicated with
# Array#include? (quadratic, each comparison a Document#<=>), and every `{% link %}`,
# `write` and the cleaner walk it. On a site with thousands of posts linking each other,
# minutes per post. The method as 4.3.2 has it:
if SitedeployFixes.affected?("4.3.0", "4.3.2")
  Jekyll::Site.class_eval do
    def each_site_file
      pages.each { |page| yield page }
      static_files.each { |file| yield(file) if file.write? }
      collections.each_value { |coll| coll.docs.each { |doc| yield(doc) if doc.write? } }
    end
  end
end

# jekyll/jekyll#9680, fixed in 4.3.4: `theme.root` gave the theme gem's absolute path
# on this machine to every page that prints it; outside development it is empty.
if SitedeployFixes.affected?("4.3.0", "4.3.4")
  Jekyll::Drops::ThemeDrop.class_eval do
    def root
      @root ||= ENV["JEKYLL_ENV"] == "development" ? @obj.root : ""
    end
  end
end
