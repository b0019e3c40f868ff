#Requires -RunAsAdministrator
# imtool tune script for: role both, 1000000 connections, ports 9000-9019 (20), 2 source IP(s), 1 server IP(s), headroom 1.10
# Review it, then run it in an elevated PowerShell. It widens the TCP dynamic
# port range only when the usable part (minus excluded ranges) is too small,
# and writes the command that restores the old range to
# $env:ProgramData\imtool\tune-undo.ps1 first. It does not touch the legacy
# Tcpip\Parameters values (MaxUserPort, TcpNumConnections, ...): Windows
# Vista and later ignore them.
$ErrorActionPreference = 'Stop'
$need = 50000  # 2 * ceil(N / (S*D*P)) usable ports
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
"note server ports 9000-9019: if they fall inside the dynamic range, exclude them with netsh int ipv4 add excludedportrange"
