#!/bin/sh
# Copy nginx and exactly what it loads into an empty root filesystem at $1:
# the binary, its modules, the shared libraries `ldd` names for them,
# our configuration (mime.types included), an unprivileged user, and the health check binary.
#
# Every file is recorded with where it came from in /build/sbom.tsv (path, sha256,
# Debian package, version; "sitedeploy" for our own files). sitedeploy stamps that
# table into the image's labels, so `sitedeploy inspect` can name the origin of every byte.
set -eu
root="$1"
: > /build/sbom.tsv

record() {  # record DEST PACKAGE VERSION
    printf '%s\t%s\t%s\t%s\n' "$1" "$(sha256sum "$root$1" | cut -d' ' -f1)" "$2" "$3" \
        >> /build/sbom.tsv
}

from_debian() {  # from_debian SOURCE [DEST]: copy a packaged file, record its package
    dest="${2:-$1}"
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$1" "$root$dest"
    package=""
    for candidate in "$1" "$(readlink -f "$1")" "/usr$1"; do
        package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1)
        [ -n "$package" ] && break
    done
    [ -n "$package" ] || { echo "collect-rootfs: no package owns $1" >&2; exit 1; }
    record "$dest" "$package" "$(dpkg-query --showformat='${Version}' -W "$package")"
}

ours() {  # ours SOURCE DEST MODE: one of sitedeploy's own files
    mkdir -p "$root$(dirname "$2")"
    install -m "$3" "$1" "$root$2"
    record "$2" sitedeploy -
}

mkdir -p "$root/srv/www" "$root/tmp"
chmod 1777 "$root/tmp"

modules="/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
/usr/lib/nginx/modules/ngx_stream_module.so"
from_debian /usr/sbin/nginx
for module in $modules; do
    from_debian "$module"
done
for library in $(ldd /usr/sbin/nginx $modules \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' \
        | sort -u); do
    from_debian "$library"
done

for conf in /build/conf/*.conf /build/conf/mime.types; do
    ours "$conf" "/etc/nginx/$(basename "$conf")" 0644
done
ours /build/healthcheck /usr/local/bin/healthcheck 0755
ours /build/sitedeploy-sock /usr/local/bin/sitedeploy-sock 0755
printf '%s\n' 'root:x:0:0:root:/nonexistent:/nonexistent' \
    'nginx:x:101:101:nginx:/nonexistent:/nonexistent' \
    'nobody:x:65534:65534:nobody:/nonexistent:/nonexistent' > /build/passwd
printf '%s\n' 'root:x:0:' 'nginx:x:101:' 'nogroup:x:65534:' > /build/group
ours /build/passwd /etc/passwd 0644
ours /build/group /etc/group 0644

# Fail the build now, not at run time, if a library is missing or the config is wrong.
# (Docker provides /dev at run time; the test gets a stand-in for the access log.)
mkdir -p "$root/dev" && touch "$root/dev/stdout" && chmod 666 "$root/dev/stdout"
chroot --userspec=101:101 "$root" /usr/sbin/nginx -t -q -e stderr -c /etc/nginx/nginx.conf
chroot --userspec=101:101 "$root" /usr/sbin/nginx -t -q -e stderr -c /etc/nginx/nginx.conf \
    -g 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;'
rm -rf "$root/dev" "$root"/tmp/*
