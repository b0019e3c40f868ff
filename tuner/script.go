package tuner

import (
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/portspec"
)

// Script writes a shell (goos "linux") or PowerShell (goos "windows")
// script that does what apply does, for hosts where imtool is not
// installed: it raises only what is short, saves the previous values first
// and writes an undo script next to them.
func Script(w io.Writer, goos string, t Target) error {
	if err := t.Validate(); err != nil {
		return err
	}
	tmpl, ok := scripts[goos]
	if !ok {
		return fmt.Errorf("--os %q: use linux or windows", goos)
	}
	data := struct {
		Target    Target
		Mins      [][2]any
		RangeNeed int64
		Reserve   string
		Nofile    int64
		FDReserve int64
		Connects  bool
	}{Target: t, RangeNeed: t.rangeNeeded(), Nofile: t.nofile(), FDReserve: host.FDReserve, Connects: t.connects()}
	for _, s := range minSysctls {
		if s.applies(t) {
			data.Mins = append(data.Mins, [2]any{s.key, s.need(t)})
		}
	}
	if t.serves() {
		data.Reserve = portspec.String(t.Ports)
	}
	return tmpl.Execute(w, data)
}

var scripts = map[string]*template.Template{
	"linux":   template.Must(template.New("sh").Parse(strings.TrimLeft(linuxScript, "\n"))),
	"windows": template.Must(template.New("ps1").Parse(strings.TrimLeft(windowsScript, "\n"))),
}

const linuxScript = `
#!/bin/sh
# imtool tune script for: {{.Target}}
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
{{range .Mins}}
raise {{index . 0}} {{index . 1}}{{end}}
{{- if .Connects}}

# Ephemeral ports: every (source IP x server ip:port) pair must stay under
# half the range, so it needs {{.RangeNeed}} ports; widen downwards, never below 1024,
# with ends of different parity.
set -- $(sysctl -n net.ipv4.ip_local_port_range); lo=$1 hi=$2 need={{.RangeNeed}}
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
{{- end}}
{{- if .Reserve}}

# Keep the server's ports {{.Reserve}} out of the ephemeral range.
cur=$(sysctl -n net.ipv4.ip_local_reserved_ports)
case ",$cur," in
*",{{.Reserve}},"*) echo "ok   net.ipv4.ip_local_reserved_ports = $cur" ;;
*)
	save net.ipv4.ip_local_reserved_ports
	new="${cur:+$cur,}{{.Reserve}}"
	sysctl -q -w "net.ipv4.ip_local_reserved_ports=$new" && echo "set  net.ipv4.ip_local_reserved_ports = $new"
	persist net.ipv4.ip_local_reserved_ports "$new"
	;;
esac
{{- end}}

# Descriptors: h*N + P + {{.FDReserve}} per process, from the next login ("*" does not
# cover root). fs.nr_open was raised above first, or setrlimit would fail.
have=$(cat /etc/security/limits.conf /etc/security/limits.d/*.conf 2>/dev/null |
	awk '$1 == "*" && ($2 == "hard" || $2 == "-") && $3 == "nofile" { v = $4 } END { print v + 0 }')
if [ "$have" -ge {{.Nofile}} ]; then
	echo "ok   nofile hard limit $have for new logins"
else
	cat > "$limits.tmp" <<'LIMITS'
*    soft nofile {{.Nofile}}
*    hard nofile {{.Nofile}}
root soft nofile {{.Nofile}}
root hard nofile {{.Nofile}}
LIMITS
	mv "$limits.tmp" "$limits"
	echo "set  nofile {{.Nofile}} in $limits (log in again; services need LimitNOFILE={{.Nofile}} in a drop-in)"
fi

for f in /etc/sysctl.conf $(ls /etc/sysctl.d/*.conf 2>/dev/null | sort | sed -n '/90-imtool.conf/,$p' | tail -n +2); do
	[ -e "$f" ] && grep -q '^[^#]' "$f" 2>/dev/null && echo "WARN $f is read after $conf at boot: check it does not lower these values" >&2
done
exit 0
`

const windowsScript = `
#Requires -RunAsAdministrator
# imtool tune script for: {{.Target}}
# Review it, then run it in an elevated PowerShell. It widens the TCP dynamic
# port range only when the usable part (minus excluded ranges) is too small,
# and writes the command that restores the old range to
# $env:ProgramData\imtool\tune-undo.ps1 first. It does not touch the legacy
# Tcpip\Parameters values (MaxUserPort, TcpNumConnections, ...): Windows
# Vista and later ignore them.
$ErrorActionPreference = 'Stop'
$need = {{.RangeNeed}}  # 2 * ceil(N / (S*D*P)) usable ports
$state = Join-Path $env:ProgramData 'imtool'
$undo = Join-Path $state 'tune-undo.ps1'
New-Item -ItemType Directory -Force -Path $state | Out-Null
$firstRun = -not (Test-Path $undo)

# netsh labels are localized: read the numbers that end lines, by position.
function Get-LineNumbers([string[]]$lines) {
	foreach ($l in $lines) { if ($l -match '(\d+)\s*$') { [int]$Matches[1] } }
}
function Get-Usable([int]$lo, [int]$hi, $excluded) {
	$n = $hi - $lo + 1
	foreach ($e in $excluded) {
		$a = [Math]::Max($lo, $e[0]); $b = [Math]::Min($hi, $e[1])
		if ($a -le $b) { $n -= $b - $a + 1 }
	}
	$n
}

foreach ($ip in 'ipv4', 'ipv6') {
	$start, $num = Get-LineNumbers (netsh int $ip show dynamicport tcp)
	$excluded = foreach ($l in (netsh interface $ip show excludedportrange protocol=tcp)) {
		if ($l -match '^\s*(\d+)\s+(\d+)\s*\*?\s*$') { ,@([int]$Matches[1], [int]$Matches[2]) }
	}
	$usable = Get-Usable $start ($start + $num - 1) $excluded
	if ($usable -ge $need) { "ok   $ip dynamic range start=$start num=$num ($usable usable)"; continue }
	if ($firstRun) { "netsh int $ip set dynamicport tcp start=$start num=$num" | Add-Content $undo }
	$lo = [Math]::Min($start, 65536 - [Math]::Min($need, 64511))
	while ($lo -gt 1025 -and (Get-Usable $lo 65535 $excluded) -lt $need) { $lo-- }
	netsh int $ip set dynamicport tcp start=$lo num=$(65536 - $lo) | Out-Null
	"set  $ip dynamic range start=$lo num=$(65536 - $lo) (was start=$start num=$num)"
}
{{- if .Reserve}}
"note server ports {{.Reserve}}: if they fall inside the dynamic range, exclude them with netsh int ipv4 add excludedportrange"
{{- end}}
`
