#!/bin/sh
# imtool tune script for: role both, 1000000 connections, ports 9000-9019 (20), 2 source IP(s), 1 server IP(s), headroom 1.10
# Review it, then run it as root. It raises only what is lower than the
# target (never lowers a value), saves the previous state in /var/lib/imtool
# first, and persists to files imtool owns. Undo: sh /var/lib/imtool/tune-undo.sh
set -eu

conf=/etc/sysctl.d/90-imtool.conf
limits=/etc/security/limits.d/90-imtool.conf
state=/var/lib/imtool
undo=$state/tune-undo.sh
mkdir -p "$state" /etc/sysctl.d /etc/security/limits.d

# The undo script is written once, by the first run, so it always restores
# the state from before imtool.
if [ -e "$undo" ]; then
	echo "keeping $undo from an earlier run" >&2
	undo=/dev/null
else
	echo '#!/bin/sh' > "$undo"
	for f in "$conf" "$limits"; do
		if [ -e "$f" ]; then
			cp -p "$f" "$state/$(basename "$f").orig"
			echo "cp -p '$state/$(basename "$f").orig' '$f'" >> "$undo"
		else
			echo "rm -f '$f'" >> "$undo"
		fi
	done
fi

# save KEY: remember the live value for the undo script.
save() { echo "sysctl -q -w '$1=$(sysctl -n "$1")'" >> "$undo"; }

# persist KEY VALUE: set KEY in $conf, replacing an earlier line.
persist() {
	touch "$conf"
	grep -v "^$1 *=" "$conf" > "$conf.tmp" || true
	echo "$1 = $2" >> "$conf.tmp"
	mv "$conf.tmp" "$conf"
}

# raise KEY MIN: set KEY to MIN, live and persisted, if it is lower.
raise() {
	cur=$(sysctl -n "$1" 2>/dev/null) || { echo "skip $1: not on this kernel (or conntrack not loaded)"; return 0; }
	if [ "$cur" -ge "$2" ]; then echo "ok   $1 = $cur"; return 0; fi
	save "$1"
	if sysctl -q -w "$1=$2"; then echo "set  $1: $cur -> $2"; else echo "FAIL $1: read-only /proc/sys (container?) or host-wide from a child netns: set it on the host" >&2; fi
	persist "$1" "$2"
}

raise fs.nr_open 1100520
raise fs.file-max 2200000
raise fs.epoll.max_user_watches 2200000
raise net.core.somaxconn 65535
raise net.ipv4.tcp_max_syn_backlog 65535
raise net.core.netdev_max_backlog 65536
raise net.netfilter.nf_conntrack_max 1100000
raise net.ipv4.tcp_max_orphans 1000000
raise net.ipv4.tcp_max_tw_buckets 1000000

# Ephemeral ports: every (source IP x server ip:port) pair must stay under
# half the range, so it needs 50000 ports; widen downwards, never below 1024,
# with ends of different parity.
set -- $(sysctl -n net.ipv4.ip_local_port_range); lo=$1 hi=$2 need=50000
if [ $((hi - lo + 1)) -ge $need ]; then
	echo "ok   net.ipv4.ip_local_port_range = $lo $hi"
else
	nlo=$((hi - need + 1)) nhi=$hi
	if [ $nlo -lt 1024 ]; then nlo=1024 nhi=$((1024 + need - 1)); [ $nhi -gt 65535 ] && nhi=65535; [ $nhi -lt $hi ] && nhi=$hi; fi
	if [ $(((nlo + nhi) % 2)) -eq 0 ]; then
		if [ $nlo -gt 1024 ]; then nlo=$((nlo - 1)); elif [ $nhi -lt 65535 ]; then nhi=$((nhi + 1)); else nlo=$((nlo + 1)); fi
	fi
	save net.ipv4.ip_local_port_range
	sysctl -q -w "net.ipv4.ip_local_port_range=$nlo $nhi" && echo "set  net.ipv4.ip_local_port_range: $lo $hi -> $nlo $nhi"
	persist net.ipv4.ip_local_port_range "$nlo $nhi"
	[ $((nhi - nlo + 1)) -ge $need ] || echo "WARN even $nlo-$nhi is too small: add source IPs or server ports" >&2
fi

# Keep the server's ports 9000-9019 out of the ephemeral range.
cur=$(sysctl -n net.ipv4.ip_local_reserved_ports)
case ",$cur," in
*",9000-9019,"*) echo "ok   net.ipv4.ip_local_reserved_ports = $cur" ;;
*)
	save net.ipv4.ip_local_reserved_ports
	new="${cur:+$cur,}9000-9019"
	sysctl -q -w "net.ipv4.ip_local_reserved_ports=$new" && echo "set  net.ipv4.ip_local_reserved_ports = $new"
	persist net.ipv4.ip_local_reserved_ports "$new"
	;;
esac

# Descriptors: h*N + P + 500 per process, from the next login ("*" does not
# cover root). fs.nr_open was raised above first, or setrlimit would fail.
have=$(cat /etc/security/limits.conf /etc/security/limits.d/*.conf 2>/dev/null |
	awk '$1 == "*" && ($2 == "hard" || $2 == "-") && $3 == "nofile" { v = $4 } END { print v + 0 }')
if [ "$have" -ge 1100520 ]; then
	echo "ok   nofile hard limit $have for new logins"
else
	cat > "$limits.tmp" <<'LIMITS'
*    soft nofile 1100520
*    hard nofile 1100520
root soft nofile 1100520
root hard nofile 1100520
LIMITS
	mv "$limits.tmp" "$limits"
	echo "set  nofile 1100520 in $limits (log in again; services need LimitNOFILE=1100520 in a drop-in)"
fi

for f in /etc/sysctl.conf $(ls /etc/sysctl.d/*.conf 2>/dev/null | sort | sed -n '/90-imtool.conf/,$p' | tail -n +2); do
	[ -e "$f" ] && grep -q '^[^#]' "$f" 2>/dev/null && echo "WARN $f is read after $conf at boot: check it does not lower these values" >&2
done
exit 0
