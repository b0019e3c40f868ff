package tuner

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/windows/registry"
)

const tcpipParameters = `SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`

// realWinHost runs netsh and reads HKLM\...\Tcpip\Parameters.
type realWinHost struct{}

func (realWinHost) netsh(args ...string) (string, error) {
	out, err := exec.Command("netsh", args...).CombinedOutput()
	return string(out), err
}

func (realWinHost) regGet(name string) (uint32, bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, tcpipParameters, registry.QUERY_VALUE)
	if err != nil {
		return 0, false, err
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue(name)
	if errors.Is(err, registry.ErrNotExist) {
		return 0, false, nil
	}
	return uint32(v), err == nil, err
}

func (realWinHost) regSet(name string, value uint32) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, tcpipParameters, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	return k.SetDWordValue(name, value)
}

func (realWinHost) regDelete(name string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, tcpipParameters, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	return nil
}

// newBackend drives this Windows host; the snapshot lives under
// %ProgramData% unless --root names another directory.
func newBackend(o Options) (backend, error) {
	dir := o.Root
	if dir == "" || dir == "/" {
		dir = os.Getenv("ProgramData")
		if dir == "" {
			dir = filepath.Join(os.Getenv("SystemDrive")+`\`, "ProgramData")
		}
	}
	return &windows{host: realWinHost{}, fs: rootFS{dir: dir}}, nil
}
