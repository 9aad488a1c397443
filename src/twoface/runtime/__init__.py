"""Where a model graph runs: onnxruntime, or PyTorch (`runtime.onnx_torch`) for batched GPU work.

`load_graph(path, runtime)` returns a `Graph`: call it with NCHW float32 arrays, get numpy
outputs by name. Both runtimes take the same inputs and give the same outputs, so every model
class is written once.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from twoface.errors import ModelError, UsageError

Runtime = Literal["onnxruntime", "torch"]
RUNTIMES = ("onnxruntime", "torch")


def require_torch(what: str) -> None:
    """A one-line usage error, not an ImportError traceback, when PyTorch is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{what} needs PyTorch: pip install torch, then pip install 'twoface[torch]'"
        ) from None


def torch_device(device: str | None = None) -> str:
    """The device PyTorch code runs on: the one asked for, else CUDA when present, else CPU.

    A device that is not there is a one-line UsageError, not an assertion deep inside PyTorch.
    """
    import torch

    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device(device)
    return device


def check_device(device: str) -> None:
    """UsageError unless PyTorch can use `device` ("cpu", "cuda", "cuda:1", "mps" ...)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(
            f"device {device}: not a device name (e.g. cpu, cuda, cuda:1)", "device"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"device {device}: no CUDA GPU is available to PyTorch on this machine "
                "(a CPU-only build, or no driver); use the cpu device",
                "device",
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)",
                "device",
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device {device}: Apple's MPS backend is not available here", "device")


def ort_providers() -> list[str]:
    """CUDA (and TensorRT) first when this onnxruntime build has them, CPU always."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in wanted if p in available] or ["CPUExecutionProvider"]


@dataclass
class Graph:
    """A loaded ONNX graph. onnxruntime only: `max_batch` is 1 when the file fixes its batch, and
    `input_size` (height, width) is set when it fixes its spatial size (the PyTorch runtime runs
    any batch and, for convolutional graphs, any size)."""

    runtime: str
    input_names: list[str]
    output_names: list[str]
    max_batch: int | None
    _run: object
    input_size: tuple[int, int] | None = None
    # PyTorch runtime: uint8 NHWC images -> normalised NCHW tensor on the model's device.
    _normalise: object = None
    # PyTorch runtime: inputs -> the outputs as float32 tensors left on the model's device.
    _run_tensors: object = None
    captured: Captured | None = None  # its CUDA graphs, where they were asked for
    path: str = ""  # the file, for messages
    # Output and input shapes the file declares (None where a dimension is not fixed).
    declared: tuple = field(default_factory=lambda: ([], {}))
    spec: object = None  # the family's `outputs.OutputSpec`, once `expect` is called
    _values_checked: bool = False  # tensors: NaN checked on the first run (a device sync)

    def expect(self, spec) -> Graph:
        """Check this graph's outputs against its family's spec: count and names now (and
        shapes where the file fixes them), shapes and values at every run. A one-line
        ModelError "FILE: not a valid <family> model (...)" otherwise."""
        from twoface.runtime.outputs import check_static

        out_shapes, in_shapes = self.declared
        problem = check_static(spec, self.output_names, out_shapes, in_shapes)
        if problem:
            raise ModelError(f"{self.path}: not a valid {spec.family} model ({problem})")
        self.spec = spec
        return self

    def _verify(self, outs, inputs, values: bool = True) -> None:
        if self.spec is None:
            return
        from twoface.runtime.outputs import check_run

        problem = check_run(self.spec, self.output_names, outs, inputs, self.input_names)
        if problem is None and values:
            bad = next(
                (n for n, o in zip(self.output_names, outs, strict=False) if not _finite(o)),
                None,
            )
            if bad is not None:
                problem = f"output {bad} holds NaN or infinite values"
        if problem:
            raise ModelError(f"{self.path}: not a valid {self.spec.family} model ({problem})")

    def tensors(self, *inputs) -> list | None:
        """The outputs as float32 tensors on the model's device, in `output_names` order, so
        a caller can post-process there (PyTorch runtime); None on onnxruntime."""
        if self._run_tensors is None:
            return None
        outs = self._run_tensors(*inputs)
        # Values once only: checking them at every run would wait for the device each time.
        self._verify(outs, inputs, values=not self._values_checked)
        self._values_checked = True
        return outs

    def normalise(self, images: np.ndarray, mean: float, std: float):
        """(N, H, W, 3) uint8 -> (N, 3, H, W) (x - mean) / std, ready for this graph: on the
        PyTorch runtime the uint8 batch goes to the device and is converted there (a quarter
        of the bytes of float32 cross the bus); on onnxruntime a float32 numpy array."""
        if self._normalise is not None:
            return self._normalise(images, mean, std)
        x = images.astype(np.float32)
        return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))

    def run_whole(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        """One run on the inputs as given (the caller keeps within `max_batch`): for graphs with
        an input that is not batched, such as CodeFormer's fidelity `weight`."""
        outs = self._run(*inputs)
        self._verify(outs, inputs)
        return dict(zip(self.output_names, outs, strict=True))

    def _run_part(self, *inputs: np.ndarray) -> list[np.ndarray]:
        outs = self._run(*inputs)
        self._verify(outs, inputs)
        return outs

    def __call__(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        n = inputs[0].shape[0]
        step = self.max_batch or n or 1
        parts = [
            self._run_part(*(x[i : i + step] for x in inputs)) for i in range(0, max(n, 1), step)
        ]
        if len(parts) == 1:
            return dict(zip(self.output_names, parts[0], strict=True))
        return {
            name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(self.output_names)
        }


def _finite(o) -> bool:
    if isinstance(o, np.ndarray):
        return bool(np.isfinite(o).all())
    import torch

    return bool(torch.isfinite(o).all())


def _declared(model) -> tuple[list, dict]:
    """(output shapes, {input name: shape}) as the file declares them; a shape is None unless
    every dimension is a fixed positive number."""

    def shape(value):
        t = value.type.tensor_type
        if not t.HasField("shape"):
            return None
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim]
        return tuple(dims) if all(d > 0 for d in dims) else None

    initialisers = {t.name for t in model.graph.initializer}
    inputs = {i.name: shape(i) for i in model.graph.input if i.name not in initialisers}
    return [shape(o) for o in model.graph.output], inputs


# RunOptions of the onnxruntime runs in progress: Ctrl-C or SIGTERM asks each to stop.
_ACTIVE_RUNS: set = set()
_ACTIVE_LOCK = threading.Lock()


def terminate_runs() -> None:
    """Ask every onnxruntime run in progress to stop at its next node (any thread may call
    it; the runs then raise, and their callers see the interruption)."""
    with _ACTIVE_LOCK:
        for options in _ACTIVE_RUNS:
            options.terminate = True


def _interruptible_run(session, names: list[str], feed: dict):
    """`session.run`, stoppable. A signal handler runs only in the main thread and only between
    bytecodes, never while onnxruntime's C++ holds that thread for minutes; so from the main
    thread the run goes to a worker thread while the main thread waits in short, interruptible
    joins. On Ctrl-C or SIGTERM (KeyboardInterrupt, or the CLI's termination exception) every
    run in progress is told to terminate, and the exception goes on up."""
    import onnxruntime as ort

    options = ort.RunOptions()
    with _ACTIVE_LOCK:
        _ACTIVE_RUNS.add(options)
    try:
        if threading.current_thread() is not threading.main_thread():
            return session.run(names, feed, options)
        result: dict = {}
        done = threading.Event()

        def work() -> None:
            try:
                result["out"] = session.run(names, feed, options)
            except BaseException as e:  # handed to the waiting thread
                result["error"] = e
            finally:
                done.set()

        # (An Event, not Thread.join: Python 3.11's join, interrupted by a signal, can mark a
        # running thread as finished.)
        threading.Thread(target=work, name="onnxruntime-run", daemon=True).start()
        try:
            while not done.wait(0.1):
                pass
        except BaseException:
            terminate_runs()
            done.wait(2.0)  # it stops at its next node: let it end before the process does
            raise
        if "error" in result:
            raise result["error"]
        return result["out"]
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE_RUNS.discard(options)


def _fixed_batch_one(model) -> bool:
    """Whether the graph's first input declares a batch of exactly 1."""
    initialisers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initialisers]
    dims = inputs[0].type.tensor_type.shape.dim if inputs else []
    return bool(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1


def load_graph(
    path: str | os.PathLike,
    runtime: Runtime = "onnxruntime",
    device: str | None = None,
    half: bool = False,
    threads: int | None = None,
    compile: bool = False,  # noqa: A002 - torch.compile, as the flag users know
    cuda_graphs: bool = False,
    channels_last: bool = False,
) -> Graph:
    """half: fp16 weights and activations (PyTorch runtime, GPU). compile: torch.compile the
    graph (PyTorch runtime; worth it on a GPU, where it fuses the normalisations: 2.4x for the
    inswapper generator on an H100). cuda_graphs: on a CUDA device, each input shape's run is
    captured once and replayed (`Captured`): one launch instead of hundreds, for small models
    whose time goes in launching kernels (a detector) while other threads want the GIL.
    channels_last: on a CUDA device, 4-D weights in the layout tensor cores take (the inswapper
    generator: 3-7% more faces a second on the H100)."""
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    from twoface.runtime.onnx_check import load_checked

    model = load_checked(path)  # refuses what no runtime should be handed, before either sees it
    if runtime == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(
                model.SerializeToString(), opts, providers=ort_providers()
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(
                f"{path}: onnxruntime cannot load it ({str(e).splitlines()[0]})"
            ) from None
        inputs = session.get_inputs()
        dims = list(inputs[0].shape or [])
        fixed = [d if isinstance(d, int) and d > 0 else None for d in dims]
        max_batch = fixed[0] if fixed else None
        size = tuple(fixed[2:4]) if len(fixed) == 4 and None not in fixed[2:4] else None
        in_type = inputs[0].type
        names = [o.name for o in session.get_outputs()]

        def run(*xs):
            feed = {
                i.name: (x.astype(np.float16) if "float16" in in_type else x)
                for i, x in zip(inputs, xs, strict=True)
            }
            try:
                outs = _interruptible_run(session, names, feed)
            except Exception as e:  # onnxruntime's own exception types (shape, type, alloc)
                raise ModelError(
                    f"{path}: onnxruntime failed running it ({str(e).splitlines()[0][:160]})"
                ) from None
            return [np.asarray(o, np.float32) for o in outs]

        return Graph(
            "onnxruntime",
            [i.name for i in inputs],
            names,
            max_batch,
            run,
            size,
            path=str(path),
            declared=_declared(model),
        )
    require_torch("the torch runtime")
    import torch

    from twoface.runtime.onnx_torch import OnnxModule

    try:
        module = OnnxModule(model)
    except (NotImplementedError, ValueError, TypeError, KeyError) as e:
        raise ModelError(f"{path}: cannot run on PyTorch ({e})") from None
    dev = torch_device(device)
    dtype = torch.float16 if half else torch.float32
    module = module.to(dev).to(dtype).eval().shapes_on_host()
    if channels_last and torch.device(dev).type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    run_module = (
        torch.compile(module, mode="max-autotune-no-cudagraphs", dynamic=False)
        if compile
        else module
    )
    if cuda_graphs and torch.device(dev).type == "cuda":
        run_module = Captured(run_module)

    one_by_one = False  # set when the file's reshapes fold a fixed batch of 1 into other axes

    @torch.inference_mode()
    def run_tensors(*xs):
        nonlocal one_by_one
        tensors = [
            (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))).to(
                dev, dtype
            )
            for x in xs
        ]
        n = tensors[0].shape[0] if tensors[0].dim() else 1
        if not one_by_one or n == 1:
            try:
                return [o.float() for o in run_module(*tensors)]
            except RuntimeError:
                # A batch-1 export whose reshapes bake the batch in (GFPGAN's modulated convs
                # reshape to batch x channels): run it one face at a time, as exported.
                if n == 1 or not _fixed_batch_one(model):
                    raise
                one_by_one = True
        parts = [
            run_module(*(t[i : i + 1] if t.dim() and t.shape[0] == n else t for t in tensors))
            for i in range(n)
        ]
        return [torch.cat([p[k] for p in parts]).float() for k in range(len(parts[0]))]

    def run_torch(*xs):
        return [o.cpu().numpy() for o in run_tensors(*xs)]

    @torch.inference_mode()
    def normalise_torch(images, mean, std):
        t = torch.from_numpy(np.ascontiguousarray(images)).to(dev, non_blocking=True)
        t = t.permute(0, 3, 1, 2).to(dtype)
        return ((t - mean) / std).contiguous()

    return Graph(
        "torch",
        module.input_names,
        module.output_names,
        None,
        run_torch,
        None,
        normalise_torch,
        run_tensors,
        run_module if isinstance(run_module, Captured) else None,
        path=str(path),
        declared=_declared(model),
    )


class Captured:
    """A module's run captured in a CUDA graph per input shape (at most `SHAPES` of them; other
    shapes run as they are) and replayed: inputs are copied into the captured buffers, and the
    outputs, buffers overwritten by the next replay, are cloned."""

    SHAPES = 4

    def __init__(self, module) -> None:
        self.module = module
        self.graphs: dict = {}

    def __call__(self, *tensors):
        import torch

        key = tuple((tuple(t.shape), t.dtype) for t in tensors)
        if key not in self.graphs:
            if len(self.graphs) >= self.SHAPES:
                return self.module(*tensors)
            try:
                self.graphs[key] = self._capture(torch, tensors)
            except RuntimeError:  # the graph syncs or copies mid-run: it runs as it is
                self.graphs[key] = None
        if self.graphs[key] is None:
            return self.module(*tensors)
        graph, inputs, outputs = self.graphs[key]
        for buffer, t in zip(inputs, tensors, strict=True):
            buffer.copy_(t)
        graph.replay()
        return [o.clone() for o in outputs]

    def _capture(self, torch, tensors):
        inputs = [t.clone() for t in tensors]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up runs: lazy initialisation stays out of the graph
            for _ in range(2):
                self.module(*inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the other threads of a video's pipeline keep using the GPU meanwhile.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            outputs = list(self.module(*inputs))
        return graph, inputs, outputs
