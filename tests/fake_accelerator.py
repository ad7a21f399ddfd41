"""A pretend accelerator, so that device bugs show on a machine without a GPU.

On Colab's GPU runtime ``train()`` moves a model to CUDA; every helper that then
builds a tensor on the CPU and hands it to the model fails with "Expected all
tensors to be on the same device".  A CPU-only machine cannot run CUDA, and the
``meta`` device is no stand-in by itself: it holds no values, and it does not
even check devices (``nn.Linear`` with meta weights accepts a CPU input).

``FakeAccelerator`` fills the gap.  Inside ``with FakeAccelerator():``

* ``model.to("meta")`` (or ``device="meta"`` anywhere, or ``t.to("meta")``) puts
  tensors on the pretend accelerator: ``OnAccelerator`` tensors that report
  ``device(type='meta')`` (the one device besides the CPU that a CPU-only build can
  name), but keep their real values on the CPU, so every computation gives the
  numbers it gives on the CPU;
* they follow CUDA's rules: an operation that mixes them with CPU tensors raises
  ``RuntimeError: Expected all tensors to be on the same device`` (CPU scalars,
  i.e. 0-d tensors, and CPU index tensors are allowed, as on CUDA); a CPU
  ``torch.Generator`` cannot drive their random numbers; ``.numpy()`` refuses;
  ``.cpu()``, ``.to("cpu")``, ``.item()`` and ``.tolist()`` copy back, ``copy_``
  works across devices.

So a test runs a helper with the model on the pretend accelerator and compares
the result with the CPU run: a helper that builds its tensors on the wrong
device fails exactly as it would on a GPU, and a correct one gives the same numbers.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_flatten, tree_map

ACCELERATOR = torch.device("meta")
MIXED = "Expected all tensors to be on the same device, but found at least two devices, meta and cpu!"
aten = torch.ops.aten

# Operations whose inputs may sit on different devices, as on CUDA.
_CROSS_DEVICE = {aten._to_copy.default, aten.copy_.default, aten._local_scalar_dense.default}
# Advanced indexing moves CPU index tensors to the indexed tensor's device.
_INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default,
             aten._index_put_impl_.default}


def _holds_accelerator(args) -> bool:
    """Whether ``args`` (or a list or tuple in it) holds an ``OnAccelerator`` tensor."""
    for x in args:
        kind = type(x)
        if kind is OnAccelerator:
            return True
        if kind is list or kind is tuple:
            for y in x:
                if type(y) is OnAccelerator:
                    return True
    return False


def _on_accelerator(device) -> bool:
    if isinstance(device, (str, torch.device)):
        try:
            return torch.device(device).type == ACCELERATOR.type
        except RuntimeError:
            return False
    return False


class OnAccelerator(torch.Tensor):
    """A tensor that says it is on the accelerator; its values (``.elem``) live on the CPU."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor, requires_grad: bool = False):
        if type(elem) is not torch.Tensor or elem.device.type != "cpu":
            raise TypeError(f"OnAccelerator wraps a plain CPU tensor, got {type(elem).__name__} "
                            f"on {elem.device}")
        r = torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=ACCELERATOR, requires_grad=requires_grad)
        r.elem = elem
        return r

    def __repr__(self, *, tensor_contents=None) -> str:
        return f"OnAccelerator({self.elem!r})"

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for x in tree_flatten((args, kwargs))[0]:
            if isinstance(x, torch.Generator) and x.device.type != ACCELERATOR.type:
                raise RuntimeError(f"Expected a '{ACCELERATOR.type}' device type for generator but "
                                   f"found '{x.device.type}'")
        for x in tree_flatten((args, kwargs))[0]:
            if type(x) is torch.Tensor and x.device.type == ACCELERATOR.type:
                raise RuntimeError(f"a real meta tensor (no values) reached {func}; the fake "
                                   f"accelerator cannot follow it")
        if func not in _CROSS_DEVICE:
            checked = (args[:1] + args[2:]) if func in _INDEXING else args
            for x in tree_flatten((checked, kwargs))[0]:
                if isinstance(x, torch.Tensor) and not isinstance(x, OnAccelerator) and x.dim() > 0:
                    raise RuntimeError(f"{MIXED} (in {func})")
        wrappers: dict[int, OnAccelerator] = {}

        def unwrap(x):
            if isinstance(x, OnAccelerator):
                wrappers[id(x.elem)] = x
                return x.elem
            return x

        uargs, ukwargs = tree_map(unwrap, args), tree_map(unwrap, kwargs)
        to_cpu = False
        if func is aten._to_copy.default and ukwargs.get("device") is not None:
            to_cpu = not _on_accelerator(ukwargs["device"])
            ukwargs["device"] = torch.device("cpu")
        out = func(*uargs, **ukwargs)
        if func is aten.copy_.default:
            return args[0]  # the destination, on its own device
        if to_cpu or func is aten._local_scalar_dense.default:
            return out

        def wrap(x):
            if isinstance(x, torch.Tensor) and not isinstance(x, OnAccelerator):
                same = wrappers.get(id(x))                  # in-place ops return their input
                return same if same is not None else OnAccelerator(x)
            return x

        return tree_map(wrap, out)


def move_module(module: torch.nn.Module, to_accelerator: bool) -> torch.nn.Module:
    """``module.to`` the accelerator (or back to the CPU), keeping tied weights tied."""
    moved: dict[int, torch.Tensor] = {}

    def move(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in moved:
            data = t.detach()
            if to_accelerator and not isinstance(data, OnAccelerator):
                data = OnAccelerator(data.clone())
            elif not to_accelerator and isinstance(data, OnAccelerator):
                data = data.elem.clone()
            is_param = isinstance(t, torch.nn.Parameter)
            moved[id(t)] = torch.nn.Parameter(data, t.requires_grad) if is_param else data
        return moved[id(t)]

    for m in module.modules():
        for table in (m._parameters, m._buffers):
            for key, t in table.items():
                if t is not None:
                    table[key] = move(t)
    return module


def _cpu_index(index):
    """Lists in an index as CPU tensors (C++ would build them on the meta device, without values)."""
    if isinstance(index, tuple):
        return tuple(_cpu_index(i) for i in index)
    if isinstance(index, list) and all(isinstance(i, (bool, int)) for i in index):
        return torch.tensor(index)
    return index


class _Factories(TorchDispatchMode):
    """Tensors that C++ makes on the accelerator by itself (a Python scalar in ``torch.where``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _holds_accelerator(args) or _holds_accelerator(kwargs.values()):
            return OnAccelerator.__torch_dispatch__(func, types, args, kwargs)
        if _on_accelerator(kwargs.get("device")):
            out = func(*args, **{**kwargs, "device": torch.device("cpu")})
            return tree_map(lambda x: OnAccelerator(x) if isinstance(x, torch.Tensor) else x, out)
        return func(*args, **kwargs)


_NEW_TENSOR_METHODS = {torch.Tensor.new_tensor, torch.Tensor.new_zeros, torch.Tensor.new_ones,
                       torch.Tensor.new_full, torch.Tensor.new_empty}


class FakeAccelerator(TorchFunctionMode):
    """Inside it, ``"meta"`` is an accelerator with real values and CUDA's device rules."""

    def __enter__(self):
        self._module_to = module_to = torch.nn.Module.to

        def to(module, *args, **kwargs):
            device = kwargs.get("device", args[0] if args else None)
            if _on_accelerator(device):
                return move_module(module, to_accelerator=True)
            if isinstance(device, (str, torch.device)) and torch.device(device).type == "cpu":
                move_module(module, to_accelerator=False)
            return module_to(module, *args, **kwargs)

        torch.nn.Module.to = to
        entered = super().__enter__()
        self._factories = _Factories()
        self._factories.__enter__()
        return entered

    def __exit__(self, *exc):
        self._factories.__exit__(*exc)
        torch.nn.Module.to = self._module_to
        return super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if "device" not in kwargs and func is not torch.Tensor.to and not _holds_accelerator(args) \
                and not _holds_accelerator(kwargs.values()):
            with _disable_current_modes():                      # CPU only: at full speed
                return func(*args, **kwargs)
        args, kwargs = list(args), dict(kwargs)
        this = args[0] if args else None
        if isinstance(this, OnAccelerator):
            if func is torch.Tensor.tolist:
                return this.elem.tolist()                       # a GPU copies to the host
            if func in (torch.Tensor.numpy, torch.Tensor.__array__):
                raise TypeError("can't convert meta device type tensor to numpy. Use Tensor.cpu() "
                                "to copy the tensor to host memory first.")
            if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__):
                args[1] = _cpu_index(args[1])                   # t[[0, 2]]: CPU indices are fine
            if func is torch.Tensor.__setitem__ and isinstance(args[2], (bool, int, float)):
                args[2] = torch.tensor(args[2])                 # a scalar, as a CPU scalar tensor
            if func in _NEW_TENSOR_METHODS and "device" not in kwargs:
                kwargs["device"] = ACCELERATOR                  # new_* keeps self's device
                args[0] = this.elem
        target = False
        if _on_accelerator(kwargs.get("device")):
            target, kwargs["device"] = True, "cpu"
        if func is torch.Tensor.to:
            for i, a in enumerate(args[1:], 1):
                if _on_accelerator(a):
                    target, args[i] = True, "cpu"
                elif isinstance(a, OnAccelerator):              # t.to(other): other's device and dtype
                    target, args[i] = True, a.dtype
        if not target:
            out = func(*args, **kwargs)
            for x in (out if isinstance(out, (list, tuple)) else (out,)):
                if isinstance(x, torch.Tensor) and not isinstance(x, OnAccelerator) \
                        and x.device.type == ACCELERATOR.type:
                    raise RuntimeError(f"{func} made a real meta tensor (no values); the fake "
                                       f"accelerator cannot follow it")
            return out
        if func is torch.Tensor.to and isinstance(this, OnAccelerator):
            args[0] = this.elem
            out = func(*args, **kwargs)
            return this if out is this.elem else OnAccelerator(out)  # already there: no copy
        out = func(*args, **kwargs)
        if func is torch.Tensor.to and out is this:
            out = out.clone()                                   # a move to another device copies

        def wrap(x):
            if isinstance(x, torch.Tensor) and not isinstance(x, OnAccelerator):
                return OnAccelerator(x.detach(), requires_grad=x.requires_grad)
            return x

        return tree_map(wrap, out)
