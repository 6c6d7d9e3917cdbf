#!/bin/sh
# Build nginx for sitedeploy's runtime from source: the upstream tarballs Debian ships
# (nginx, and the ngx_brotli module Debian packages as libnginx-mod-http-brotli), each
# checked against the sha256 of the Sources index that apt verified, compiled with only
# what a static site and sitedeploy's front need. No TLS (the runtime never terminates
# it: a proxy or ingress in front does), so no OpenSSL: about 5 MB of libssl/libcrypto
# less than Debian's nginx-light, and none of the modules that recent nginx advisories
# were about (mp4, HTTP/2, HTTP/3, mail, TLS).
#
# Writes /usr/sbin/nginx, /build/mime.types and /build/sources.tsv (file, sha256, URL of
# each tarball used), which collect-rootfs.sh turns into the SBOM.
set -eu

# Source indexes too, for the checksums (the same mirrors the binary indexes come from).
for list in /etc/apt/sources.list.d/*.sources; do
    [ -f "$list" ] && sed -i 's/^Types: deb$/Types: deb deb-src/' "$list"
done
if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list > /etc/apt/sources.list.d/src.list
fi
apt-get update
apt-get install -y --no-install-recommends \
    gcc make libc6-dev libpcre2-dev zlib1g-dev musl-tools

mkdir -p /build/src
cd /build/src
: > /build/sources.tsv
fetch() {  # fetch SOURCE-PACKAGE: its .orig tarball, unpacked here
    apt-cache showsrc "$1" | awk -v package="$1" '
        /^Package: / { p = $2 } /^Directory: / && p == package { d[n++] = $2 }
        /^Checksums-Sha256:/ { c = 1; next } /^[^ ]/ { c = 0 }
        c && p == package && $3 ~ /\.orig\.tar\.[a-z0-9]+$/ { f = $3; h = $1 }
        END { for (i = 0; i < n; i++) print h, f, d[i] }' | sort -u > candidates
    for uri in $(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Sources' | sort -u); do
        while read -r hash file directory; do
            # apt-helper refuses a download whose sha256 differs.
            if /usr/lib/apt/apt-helper download-file "$uri$directory/$file" "$file" \
                    "SHA256:$hash" >/dev/null 2>&1; then
                printf '%s\t%s\t%s\n' "$file" "$hash" "$uri$directory/$file" >> /build/sources.tsv
                tar xf "$file"
                return 0
            fi
        done < candidates
    done
    echo "build-nginx: no mirror serves the checked upstream tarball of $1" >&2
    exit 1
}
fetch nginx
fetch libnginx-mod-http-brotli

cd /build/src/nginx-*/
# Core, static files, index, try_files, charset, headers, map, rewrite (return, set),
# gzip_static + gunzip, log, proxy with upstream keepalive (sitedeploy's front) and
# brotli_static; nothing else.
./configure \
    --prefix=/etc/nginx --sbin-path=/usr/sbin/nginx --conf-path=/etc/nginx/nginx.conf \
    --pid-path=/tmp/nginx.pid --lock-path=/tmp/nginx.lock \
    --error-log-path=stderr --http-log-path=/dev/stdout \
    --http-client-body-temp-path=/tmp/client_body --http-proxy-temp-path=/tmp/proxy \
    --user=nginx --group=nginx \
    --with-http_gzip_static_module --with-http_gunzip_module \
    --without-http_ssi_module --without-http_userid_module --without-http_access_module \
    --without-http_auth_basic_module --without-http_mirror_module \
    --without-http_autoindex_module --without-http_geo_module \
    --without-http_split_clients_module --without-http_referer_module \
    --without-http_fastcgi_module --without-http_uwsgi_module --without-http_scgi_module \
    --without-http_grpc_module --without-http_memcached_module \
    --without-http_limit_conn_module --without-http_limit_req_module \
    --without-http_empty_gif_module --without-http_browser_module \
    --without-http_upstream_hash_module --without-http_upstream_ip_hash_module \
    --without-http_upstream_least_conn_module --without-http_upstream_random_module \
    --without-http_upstream_zone_module \
    --add-module="$(ls -d /build/src/ngx_brotli-*/static)" \
    --with-cc-opt='-O2 -g0 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security' \
    --with-ld-opt='-Wl,-z,relro -Wl,-z,now'
make -j"$(nproc)"
install -m 0755 -s objs/nginx /usr/sbin/nginx
cp conf/mime.types /build/mime.types
/usr/sbin/nginx -V
