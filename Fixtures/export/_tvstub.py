import sys, types, importlib.abc, importlib.machinery

class _DummyMeta(type):
    def __getattr__(cls, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return _make_dummy(name)

def _make_dummy(name):
    def _unavailable(*a, **k):
        raise RuntimeError("torchvision stub: %s is not available (CPU torch without matching torchvision)" % name)
    return _DummyMeta(name, (object,), {"__call__": _unavailable})

class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        full = self.__name__ + '.' + name
        if full in sys.modules:
            return sys.modules[full]
        return _make_dummy(name)

class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == 'torchvision' or fullname.startswith('torchvision.'):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None
    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        if spec.name == 'torchvision':
            m.__version__ = '0.0.0+stub'
        return m
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, _Finder())
