# Which gems of a Gemfile's bundle Debian can give, for Bundler on Debian's Ruby: run by
# sitedeploy in the builder, in the folder with the Gemfile (and its lock), before
# `bundle install`; prints the Debian package name of each (ruby-<gem>), for apt to install
# those Debian has. The bundle's gems are the lock's when there is one; else the Gemfile's
# dependencies and theirs, walked through the gems already installed (Debian's) and what
# the gem source ($SITEDEPLOY_GEM_SOURCE) has. A gem the source lacks can then only come
# from Debian, and any other Debian packages comes from Debian too: Bundler takes an
# installed gem of a version that fits as it is.
require "bundler"
require "rubygems/spec_fetcher"

def debian_package(name)
  "ruby-#{name.downcase.tr("_", "-")}"
end

def from_source(fetcher, name, requirement)
  found, _errors = fetcher.spec_for_dependency(Gem::Dependency.new(name, requirement))
  found.map(&:first).max_by(&:version)
rescue StandardError
  nil # the source cannot tell (it needs a login, say): Debian may still have the gem
end

def walked(dependencies, fetcher)
  seen = {}
  todo = dependencies.dup
  until todo.empty?
    name, requirement = todo.shift
    next if seen[name]

    seen[name] = true
    spec = Gem::Specification.find_all_by_name(name, requirement).max_by(&:version)
    spec ||= from_source(fetcher, name, requirement) if fetcher
    next unless spec

    spec.runtime_dependencies.each { |dep| todo << [dep.name, dep.requirement] }
  end
  seen.keys
end

names =
  if File.exist?("Gemfile.lock")
    Bundler::LockfileParser.new(Bundler.read_file("Gemfile.lock")).specs.map(&:name)
  else
    definition = Bundler::Definition.build("Gemfile", nil, {})
    wanted = definition.dependencies.reject { |dep| (dep.groups & %i[development test]).any? }
    source = ENV.fetch("SITEDEPLOY_GEM_SOURCE", "")
    fetcher = source.empty? ? nil : Gem::SpecFetcher.new(Gem::SourceList.from([source]))
    walked(wanted.map { |dep| [dep.name, dep.requirement] }, fetcher)
  end
puts names.map { |name| debian_package(name) }.uniq.sort
