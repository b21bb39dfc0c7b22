"""ONNX models, run with onnxruntime.

Either one 2-D input tensor ``[N, F]`` (features in signature order) or one input per feature.
Classifier outputs from skl2onnx (a label tensor plus probabilities as a tensor or a list of maps)
and plain regression outputs are understood. A classifier's labels are read from its graph when the
``onnx`` package is installed (it is wherever skl2onnx is), else from the ZipMap output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlship.errors import InvalidInput, UnsupportedFormat
from mlship.registry.formats.base import PreparedArtifact

if TYPE_CHECKING:
    import pandas as pd

_CLASS_LABEL_ATTRIBUTES = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")
"""Attributes of the ai.onnx.ml classifier and ZipMap operators that hold the class labels."""

_ONNX_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}
_ONNX_FAMILY = {
    "tensor(float)": "float",
    "tensor(double)": "float",
    "tensor(int64)": "int",
    "tensor(int32)": "int",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


class OnnxModel:
    """An onnxruntime session behind the ``predict``/``predict_proba`` interface."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._inputs = session.get_inputs()
        self._outputs = session.get_outputs()
        self._proba_output = next(
            (o.name for o in self._outputs[1:] if "prob" in o.name.lower()), None
        )
        self.classes_: np.ndarray[Any, Any] | None = None

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self._inputs)

    @property
    def input_dtypes(self) -> tuple[str, ...]:
        """The dtype family of each input (for a signature without training data)."""
        return tuple(_ONNX_FAMILY.get(i.type, "float") for i in self._inputs)

    @property
    def single_tensor_input(self) -> bool:
        return len(self._inputs) == 1

    def _feed(self, frame: pd.DataFrame) -> dict[str, Any]:
        if self.single_tensor_input:
            spec = self._inputs[0]
            dtype = _ONNX_NUMPY.get(spec.type, np.float32)
            return {spec.name: frame.to_numpy(dtype=dtype)}
        feed = {}
        for spec in self._inputs:
            if spec.name not in frame.columns:
                raise InvalidInput(f"The ONNX model needs the input {spec.name!r}; it is missing.")
            dtype = _ONNX_NUMPY.get(spec.type, np.float32)
            feed[spec.name] = frame[spec.name].to_numpy(dtype=dtype).reshape(-1, 1)
        return feed

    def _run(self, frame: pd.DataFrame) -> list[Any]:
        return list(self._session.run(None, self._feed(frame)))

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        out = np.asarray(self._run(frame)[0])
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        if self._proba_output is None:
            raise AttributeError("This ONNX model has no probability output.")
        names = [o.name for o in self._outputs]
        raw = self._run(frame)[names.index(self._proba_output)]
        if isinstance(raw, list):  # ZipMap output: one {class: probability} dict per row
            keys = list(raw[0].keys()) if raw else []
            if self.classes_ is None:
                self.classes_ = np.asarray(keys)
            return np.array([[row[k] for k in keys] for row in raw], dtype=np.float64)
        return np.asarray(raw, dtype=np.float64)

    def __getattr__(self, name: str) -> Any:
        if name == "predict_proba_available":
            return self._proba_output is not None
        raise AttributeError(name)


class OnnxFormat:
    """``.onnx`` files."""

    name = "onnx"

    def accepts_object(self, obj: Any) -> bool:
        return type(obj).__name__ == "ModelProto" and type(obj).__module__.startswith("onnx")

    def accepts_path(self, path: Path) -> bool:
        return path.is_file() and path.suffix == ".onnx"

    def prepare(self, source: Any, workdir: Path, *, trusted: bool) -> PreparedArtifact:
        if isinstance(source, Path):
            path = source
        elif self.accepts_object(source):
            path = workdir / "model.onnx"
            path.write_bytes(source.SerializeToString())
        else:
            raise UnsupportedFormat(
                f"The onnx format takes an .onnx file or an onnx.ModelProto, not a "
                f"{type(source).__name__}. Convert the model first (e.g. skl2onnx.to_onnx), or "
                "leave out format= to let mlship choose."
            )
        model = self.load(path, {}, workdir)
        if model.classes_ is None:
            classes = graph_classes(path)
            if classes is not None:
                model.classes_ = np.asarray(classes)
        names = model.input_names if not model.single_tensor_input else None
        dtypes = model.input_dtypes if names is not None else None
        return PreparedArtifact(
            path=path,
            load_spec={"runtime": "onnxruntime"},
            model=model,
            feature_names=names,
            feature_dtypes=dtypes,
        )

    def load(self, path: Path, load_spec: dict[str, Any], workdir: Path) -> OnnxModel:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors on bad files
            raise UnsupportedFormat(f"{path.name} is not a valid ONNX model: {exc}") from None
        model = OnnxModel(session)
        classes = load_spec.get("classes")
        if classes is not None:
            model.classes_ = np.asarray(classes)
        return model


def graph_classes(path: Path) -> list[Any] | None:
    """The class labels of the classifier in the ONNX graph at ``path``, in probability order.

    None when the graph holds no ai.onnx.ml classifier or ZipMap node, or when the ``onnx`` package
    (needed to read the graph; onnxruntime does not expose it) is not installed.
    """
    try:
        import onnx
    except ImportError:
        return None
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # onnxruntime already accepted the file; a parse failure here is not fatal
        return None
    # The node nearest the outputs decides: a ZipMap or the final classifier of a pipeline.
    for node in reversed(graph.node):
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [label.decode("utf-8") for label in attribute.strings]
            if attribute.name in _CLASS_LABEL_ATTRIBUTES and attribute.ints:
                return [int(label) for label in attribute.ints]
    # skl2onnx converts classifiers without an ai.onnx.ml operator (naive Bayes, MLP) to an ArgMax
    # over the probabilities that indexes a constant named "classes".
    for initializer in graph.initializer:
        if initializer.name == "classes":
            values = onnx.numpy_helper.to_array(initializer).ravel().tolist()
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    return None
