#!/bin/sh
# Copy nginx and exactly what it loads into an empty root filesystem at $1:
# the binary, its modules, the shared libraries `ldd` names for them, mime.types,
# our configuration, an unprivileged user, and the health check binary.
set -eu
root="$1"
mkdir -p "$root/usr/sbin" "$root/usr/lib/nginx/modules" "$root/etc/nginx" \
    "$root/usr/local/bin" "$root/srv/www" "$root/tmp"
chmod 1777 "$root/tmp"

cp /usr/sbin/nginx "$root/usr/sbin/nginx"
cp /usr/lib/nginx/modules/ngx_http_brotli_static_module.so "$root/usr/lib/nginx/modules/"
for library in $(ldd /usr/sbin/nginx "$root"/usr/lib/nginx/modules/*.so \
        | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' \
        | sort -u); do
    cp -L --parents "$library" "$root"
done

cp /etc/nginx/mime.types "$root/etc/nginx/mime.types"
cp /build/conf/*.conf "$root/etc/nginx/"
install -m 0755 /build/healthcheck "$root/usr/local/bin/healthcheck"

echo 'root:x:0:0:root:/nonexistent:/nonexistent' > "$root/etc/passwd"
echo 'nginx:x:101:101:nginx:/nonexistent:/nonexistent' >> "$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/nonexistent' >> "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
echo 'nginx:x:101:' >> "$root/etc/group"
echo 'nogroup:x:65534:' >> "$root/etc/group"

# A bill of materials for what was copied: path, sha256, Debian package and version
# (files that are ours are listed as package "sitedeploy"). sitedeploy stamps it into the
# image's labels, so `sitedeploy inspect` can name the origin of every byte.
: > /build/sbom.tsv
(cd "$root" && find . -type f | sed 's|^\.||' | sort) | while read -r path; do
    sum=$(sha256sum "$root$path" | cut -d' ' -f1)
    package=""
    for candidate in "$path" "/usr$path" "$(readlink -f "$path" 2>/dev/null || echo "$path")"; do
        package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1)
        [ -n "$package" ] && break
    done
    if [ -n "$package" ]; then
        version=$(dpkg-query -W -f='${Version}' "$package")
    else
        package=sitedeploy
        version=-
    fi
    printf '%s\t%s\t%s\t%s\n' "$path" "$sum" "$package" "$version" >> /build/sbom.tsv
done

# Fail the build now, not at run time, if a library is missing or the config is wrong.
# (Docker provides /dev at run time; the test gets a stand-in for the access log.)
mkdir -p "$root/dev" && touch "$root/dev/stdout" && chmod 666 "$root/dev/stdout"
chroot --userspec=101:101 "$root" /usr/sbin/nginx -t -q -e stderr -c /etc/nginx/nginx.conf
rm -rf "$root/dev" "$root"/tmp/*
