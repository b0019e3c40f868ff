package tuner

func newBackend(o Options) (backend, error) {
	return newLinux(rootFS{dir: rootOrSlash(o.Root), writeLive: o.writeLive}), nil
}
