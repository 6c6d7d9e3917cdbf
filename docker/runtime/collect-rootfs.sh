#!/bin/sh
# Copy nginx and exactly what it loads into an empty root filesystem at $1:
# the binary, its modules, the shared libraries they need, our configuration
# (mime.types included; slot.conf, a preview server's), an unprivileged user, and the two
# static helpers.
#
#   collect-rootfs.sh ROOT                      nginx as installed in this stage (its CPU)
#   collect-rootfs.sh ROOT DEBS TRIPLET         nginx for another CPU: the packages in DEBS
#                                               are unpacked, never run (TRIPLET: the GNU
#                                               name of that CPU's system, aarch64-linux-gnu)
#
# Every file is recorded with where it came from in /build/sbom.tsv (path, sha256,
# Debian package, version; "sitedeploy" for our own files). sitedeploy stamps that
# table into the image's labels, so `sitedeploy inspect` can name the origin of every byte.
set -eu
root="$1"
debs="${2:-}"
triplet="${3:-}"
unpacked=/build/unpacked  # another CPU's packages, unpacked side by side
: > /build/sbom.tsv

record() {  # record DEST PACKAGE VERSION
    printf '%s\t%s\t%s\t%s\n' "$1" "$(sha256sum "$root$1" | cut -d' ' -f1)" "$2" "$3" \
        >> /build/sbom.tsv
}

if [ -n "$debs" ]; then
    : > /build/owners.tsv
    for deb in "$debs"/*.deb; do
        package=$(dpkg-deb -f "$deb" Package)
        version=$(dpkg-deb -f "$deb" Version)
        dpkg-deb -x "$deb" "$unpacked"
        dpkg-deb -c "$deb" | awk -v p="$package" -v v="$version" \
            '{ path = $6; sub(/^\./, "", path); print path "\t" p "\t" v }' >> /build/owners.tsv
    done
fi

owner() {  # owner PATH: "package<TAB>version" of the package that ships PATH
    if [ -n "$debs" ]; then
        awk -F'\t' -v f="$1" '$1 == f { print $2 "\t" $3; exit }' /build/owners.tsv
        return
    fi
    for candidate in "$1" "$(readlink -f "$1")" "/usr$1"; do
        package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1)
        if [ -n "$package" ]; then
            printf '%s\t%s\n' "$package" "$(dpkg-query --showformat='${Version}' -W "$package")"
            return
        fi
    done
}

from_debian() {  # from_debian PATH: copy a packaged file to the same path, record its package
    [ ! -e "$root$1" ] || return 0
    mkdir -p "$root$(dirname "$1")"
    link=""
    [ -z "$debs" ] || [ ! -L "$unpacked_root$1" ] || link=$(readlink "$unpacked_root$1")
    case "$link" in
        "") cp -L "$unpacked_root$1" "$root$1" ;;
        /*) cp -L "$unpacked_root$link" "$root$1" ;;
        *) ln -s "$link" "$root$1"; from_debian "$(dirname "$1")/$link" ;;  # kept a link
    esac
    found=$(owner "$1")
    [ -n "$found" ] || { echo "collect-rootfs: no package ships $1" >&2; exit 1; }
    record "$1" "$(printf '%s' "$found" | cut -f1)" "$(printf '%s' "$found" | cut -f2)"
}

libraries() {  # libraries ELF...: the absolute path of every shared library they load
    if [ -z "$debs" ]; then
        ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' \
            | sort -u
        return
    fi
    # No loader to ask for another CPU: follow each file's NEEDED entries through that
    # CPU's library folders, and name its program interpreter.
    todo="$*"
    seen=" "
    : > /build/libraries
    while [ -n "${todo# }" ]; do
        set -- $todo
        elf="$1"; shift; todo="$*"
        "$triplet-readelf" -l "$unpacked_root$elf" \
            | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p' >> /build/libraries
        for name in $("$triplet-readelf" -d "$unpacked_root$elf" \
                | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            path=""
            for dir in "/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib; do
                if [ -e "$unpacked_root$dir/$name" ]; then path="$dir/$name"; break; fi
            done
            [ -n "$path" ] || { echo "collect-rootfs: $elf needs $name; no package has it" >&2; exit 1; }
            case "$seen" in
                *" $path "*) ;;
                *) seen="$seen$path "; todo="$todo $path"; echo "$path" >> /build/libraries ;;
            esac
        done
    done
    sort -u /build/libraries
}

ours() {  # ours SOURCE DEST MODE: one of sitedeploy's own files
    mkdir -p "$root$(dirname "$2")"
    install -m "$3" "$1" "$root$2"
    record "$2" sitedeploy -
}

unpacked_root=""
[ -z "$debs" ] || unpacked_root="$unpacked"
mkdir -p "$root/srv/www" "$root/tmp"
chmod 1777 "$root/tmp"

modules="/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
/usr/lib/nginx/modules/ngx_stream_module.so"
from_debian /usr/sbin/nginx
for module in $modules; do
    from_debian "$module"
done
libraries /usr/sbin/nginx $modules > /build/needed
for library in $(cat /build/needed); do
    from_debian "$library"
done

for conf in /build/conf/*.conf /build/conf/mime.types; do
    ours "$conf" "/etc/nginx/$(basename "$conf")" 0644
done
# A preview's server: nginx.conf with its socket slot's listen (the "# slot: " line).
sed 's/^\( *\)# slot: /\1/' /build/conf/nginx.conf > /build/slot.conf
if cmp -s /build/conf/nginx.conf /build/slot.conf; then
    echo "collect-rootfs: nginx.conf has no '# slot: ' line for slot.conf" >&2
    exit 1
fi
ours /build/slot.conf /etc/nginx/slot.conf 0644
ours /build/healthcheck /usr/local/bin/healthcheck 0755
ours /build/sitedeploy-sock /usr/local/bin/sitedeploy-sock 0755
printf '%s\n' 'root:x:0:0:root:/nonexistent:/nonexistent' \
    'nginx:x:101:101:nginx:/nonexistent:/nonexistent' \
    'nobody:x:65534:65534:nobody:/nonexistent:/nonexistent' > /build/passwd
printf '%s\n' 'root:x:0:' 'nginx:x:101:' 'nogroup:x:65534:' > /build/group
ours /build/passwd /etc/passwd 0644
ours /build/group /etc/group 0644

# Fail the build now, not at run time, if a library is missing or the config is wrong —
# where this CPU can run the files (another CPU's are checked by the tests, emulated).
# (Docker provides /dev at run time; the test gets a stand-in for the access log.)
if [ -z "$debs" ]; then
    mkdir -p "$root/dev" && touch "$root/dev/stdout" && chmod 666 "$root/dev/stdout"
    chroot --userspec=101:101 "$root" /usr/sbin/nginx -t -q -e stderr -c /etc/nginx/nginx.conf
    mkdir -p "$root/run/sitedeploy" && chown 101:101 "$root/run/sitedeploy"  # the slot
    chroot --userspec=101:101 "$root" /usr/sbin/nginx -t -q -e stderr -c /etc/nginx/slot.conf
    rmdir "$root/run/sitedeploy" "$root/run"
    chroot --userspec=101:101 "$root" /usr/sbin/nginx -t -q -e stderr -c /etc/nginx/nginx.conf \
        -g 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;'
    rm -rf "$root/dev"
fi
rm -rf "$root"/tmp/*
