"""The method interface every model family implements, the registry of methods, and their configs.

A *method* (a model family: DISN, 3D-R2N2, ...) is a :class:`Method` subclass registered under a name.
It says which targets it reads from a packed store (:meth:`Method.targets`), builds its network
(:meth:`Method.build`; :meth:`Method.dataset` when its items are not the packed store's single views),
computes its training loss (:meth:`Method.loss`), optionally draws images for
TensorBoard (:meth:`Method.images`) and turns predictions into meshes for evaluation
(:meth:`Method.predict_mesh`, with the facts of the packed store in a :class:`PredictContext`: batches
carry only data). Its hyper-parameters are the fields of a dataclass, ``Method.Config``,
each with a default and a description (``metadata={"help": ...}`` or a docstring under the field).
The trainer (:func:`recon.train.train`) handles everything else, so a new family plugs in
without changing it::

    @dataclass(frozen=True)
    class ToyConfig:
        hidden: int = field(default=64, metadata={"help": "width of the hidden layers"})
        encoder: str = "resnet18"
        \"\"\"Image encoder (docstrings under fields work too).\"\"\"

    @register
    class Toy(Method):
        name = "toy"
        Config = ToyConfig

        def targets(self, config):
            return {"targets": ("image", "sdf"), "n_points": 2048}

        def build(self, config):
            return ToyNet(config.hidden)

        def loss(self, model, batch, config):
            pred = model(to_float_image(batch["image"]), batch["sdf_points"])  # (B, N)
            loss = (pred - batch["sdf"]).abs().mean()
            return loss, {"l1": loss.item()}

Methods are found by name (:func:`get_method`): registered ones, then every module and subpackage of
``recon.models`` (imported once; a family's package, ``recon/models/<family>/``, registers its method
when imported, so there is no list of families to keep), then ``module:attribute`` specs
(``"my_package.my_model:MyMethod"``) for methods that live outside the package.

Configs are built from nested mappings (parsed YAML) with :func:`method_config` (or
:func:`build_config` for any config dataclass): values are checked against the field types (YAML's
``1e-4`` is a string, converted to float where a float is expected), and an unknown key is an error
naming it and the known ones. A config class may read keys under their old names for one release:
``RENAMED_KEYS: ClassVar[dict[str, str]] = {"old": "new"}`` (a ``FutureWarning`` names the new key).
:func:`config_to_dict` is the inverse, YAML-ready.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import itertools
import pkgutil
import textwrap
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from recon.config import ConfigError

__all__ = [
    "METHODS",
    "Method",
    "PredictContext",
    "build_config",
    "check_choices",
    "config_help",
    "config_to_dict",
    "discover_methods",
    "get_method",
    "method_config",
    "register",
    "unwrap_model",
]


@dataclass(frozen=True)
class PredictContext:
    """What predictions must agree with that is a fact of the packed store, not of a batch or a config.

    :func:`recon.train.predict.predict_split` makes one per split (:meth:`of`) and passes it to
    :meth:`Method.predict_mesh`; batches carry only the items' data.

    Attributes:
        voxel_half_extent: h of the cube ``[-h, h]³`` the packed voxels cover
            (:attr:`recon.io.packed.PackedSplit.voxel_half_extent`): voxel predictions and their
            meshes are over that cube.
        upstream: the trained models of the experiments :meth:`Method.upstream` names, by role
            (bare networks in eval mode, on the prediction device), e.g. DISN's camera network.
    """

    voxel_half_extent: float = 1.0
    upstream: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, split, upstream: Mapping[str, Any] | None = None) -> PredictContext:
        """The context of a packed split (a :class:`recon.io.packed.PackedSplit`) and upstream models."""
        return cls(voxel_half_extent=float(split.voxel_half_extent), upstream=dict(upstream or {}))


class Method:
    """A model family: what it reads, how it is built, how it learns, how it makes meshes.

    Subclass it, set :attr:`name` and :attr:`Config`, implement :meth:`targets`, :meth:`build`,
    :meth:`loss` and :meth:`predict_mesh`, and :func:`register` the class (or an instance). Methods
    hold no state: everything a run varies is in the config.

    Batches are what :func:`recon.io.loader.collate` makes of the items of
    :class:`recon.io.loader.PackedDataset` (see its module for keys and shapes), on the training
    device: e.g. ``batch["image"]`` (B, H, W, 4) uint8, ``batch["sdf_points"]`` (B, N, 3) float32.
    """

    #: Registry name, used in experiment files (``method: <name>``).
    name: ClassVar[str] = ""
    #: Dataclass of the method's hyper-parameters, every field with a default and a description.
    Config: ClassVar[type] = type(None)
    #: Passed to ``DistributedDataParallel``: True when some parameters may get no gradient in a step.
    find_unused_parameters: ClassVar[bool] = False
    #: Overrides of :attr:`Config`'s defaults for a CPU-sized network (the same architecture, narrower
    #: and on small images): the tests train every registered method with it.
    small_config: ClassVar[Mapping[str, Any]] = {}
    #: The validation scalar that picks ``checkpoints/best.pt`` (a key of :meth:`loss`'s scalars, or
    #: ``"loss"``) and whether its lowest (``"min"``) or highest (``"max"``) value is best; e.g.
    #: Occupancy Networks selects on validation IoU, ``("iou", "max")``.
    selection: ClassVar[tuple[str, str]] = ("loss", "min")

    def targets(self, config: Any) -> dict[str, Any]:
        """Keyword arguments of :class:`recon.io.loader.PackedDataset` for this config.

        Args:
            config: an instance of :attr:`Config`.

        Returns:
            Keyword arguments of :class:`recon.io.loader.PackedDataset`: any of ``targets`` (names
            of :data:`recon.io.loader.TARGETS`), ``n_points``, ``samples`` (the packed SDF sample
            group), ``voxel_resolution``, ``views``. The trainer adds ``seed``.
        """
        raise NotImplementedError

    def dataset(self, store, config: Any, seed: int, train: bool = True):
        """The dataset over a packed store that the trainer reads (for store paths; datasets pass as is).

        The default is :class:`recon.io.loader.PackedDataset` with :meth:`targets`; a family whose
        items are not single views (several views of a shape, say) returns its own map-style dataset,
        optionally with ``set_epoch(epoch)``, whose items :func:`recon.io.loader.collate` batches.

        Args:
            store: packed split store (``results/pack/<split>.zarr``).
            config: an instance of :attr:`Config`.
            seed: the run's seed (``train.seed``).
            train: True for the training set, False for validation (e.g. no random view choice).
        """
        from recon.io.loader import PackedDataset

        return PackedDataset(store, **{"seed": seed, **self.targets(config)})

    def predict_dataset(self, store, config: Any, seed: int, views: list[int]):
        """The items predicted for a packed store: one per shape and view of ``views``.

        The default is :class:`recon.io.loader.PackedDataset` over those views with the ``image``
        and ``camera`` targets :meth:`targets` asks for. A family that predicts from several views
        of a shape returns its own dataset, whose item for view ``v`` carries ``shape_index`` and
        ``view`` = ``v`` like the default's (they name the predicted item).

        Args:
            store: packed split store (``results/pack/<split>.zarr``).
            config: an instance of :attr:`Config` (with any prediction variant applied).
            seed: the config's seed.
            views: view indices predicted for every shape.
        """
        from recon.io.loader import PackedDataset

        targets = dict(self.targets(config))
        targets["targets"] = tuple(t for t in targets.get("targets", ()) if t in ("image", "camera"))
        targets.pop("views", None)
        return PackedDataset(store, seed=seed, views=list(views), **targets)

    def build(self, config: Any):
        """The network (a ``torch.nn.Module``) for this config, freshly initialized.

        The trainer seeds the random number generators before calling it, so the initial weights
        depend only on the run's seed.
        """
        raise NotImplementedError

    def loss(self, model, batch: dict, config: Any) -> tuple[Any, dict[str, float]]:
        """Training loss of one batch.

        Args:
            model: the network in training mode; under multi-GPU training a
                ``DistributedDataParallel`` wrapper: call it for the forward pass (that is what
                synchronizes gradients) and reach its submodules through :func:`unwrap_model`.
            batch: collated batch on the model's device.
            config: an instance of :attr:`Config`.

        Returns:
            ``(loss, scalars)``: the scalar loss tensor to minimize, () float, and plain floats to log
            (e.g. the loss terms; the trainer logs ``loss`` itself and averages everything over the
            logging interval and over processes).
        """
        raise NotImplementedError

    def images(self, model, batch: dict, config: Any) -> dict[str, Any]:
        """Images to show in TensorBoard (called under ``torch.no_grad`` with the model in eval mode).

        Args:
            model: the bare network (never a DDP wrapper).
            batch: a collated batch on the model's device (a fixed validation batch when there is one).
            config: an instance of :attr:`Config`.

        Returns:
            ``{tag: images}`` with images (B, C, H, W) or (C, H, W) float in [0, 1], C = 1 or 3; each
            becomes one grid. The default draws nothing.
        """
        return {}

    def predict_mesh(self, model, batch: dict, config: Any, context: PredictContext) -> list[tuple[Any, Any]]:
        """Meshes predicted for the items of a batch (the evaluate stage calls it; training does not).

        A method that also predicts voxels defines ``predict_voxels(model, batch, config, context)``,
        (B, n, n, n) occupancy probabilities over the context's voxel cube; the prediction store
        keeps them for the voxel protocols. A method that predicts point clouds (PointSetGen,
        AtlasNet) defines ``predict_points(model, batch, config, context)``, one (P, 3) float array
        per item in the same frame; its ``predict_mesh`` may then return empty meshes (V = F = 0)
        for a cloud-only prediction, or meshes made from the clouds.

        Args:
            model: the bare network in eval mode.
            batch: a collated batch on the model's device (the ``image`` and ``camera`` targets).
            config: an instance of :attr:`Config`.
            context: the packed split's facts the meshes must agree with (its voxel cube).

        Returns:
            One ``(vertices, faces)`` pair per item: (V, 3) float and (F, 3) int NumPy arrays in the
            packed store's normalized object frame.
        """
        raise NotImplementedError

    def upstream(self, config: Any) -> dict[str, str]:
        """Experiments whose trained models this config needs at prediction, by role.

        The workflow trains them first; the predictor loads each run's model and passes it in
        :attr:`PredictContext.upstream` under its role (e.g. DISN with ``camera: estimated`` names
        the camera network's experiment). The default needs none.

        Returns:
            ``{role: experiment name}`` (names of ``config/experiments/<name>.yaml``).
        """
        return {}

    def predict_variants(self, config: Any) -> dict[str, dict[str, Any]]:
        """Other ways to predict with the same trained model, each evaluated as its own method.

        Each variant is a set of model-config overrides applied at prediction only (they must not
        change the network's parameters), evaluated as ``<experiment>@<variant>``: e.g. 3D-R2N2
        from 1 to 5 views per shape. The default has none.

        Returns:
            ``{variant name: {model key: value}}``; names are letters, digits and ``_``.
        """
        return {}

    def __repr__(self) -> str:
        return f"<method {self.name!r} ({type(self).__module__}.{type(self).__qualname__})>"


#: Registered methods by name.
METHODS: dict[str, Method] = {}

#: Package whose modules :func:`discover_methods` imports (each family's module registers itself).
METHOD_PACKAGE = "recon.models"

_discovery: dict[str, str] | None = None  # module -> import error, once discovery ran


def register(method: Method | type[Method], *, replace: bool = False):
    """Add a method to :data:`METHODS` (usable as a class decorator).

    Args:
        method: a :class:`Method` subclass (instantiated without arguments) or instance.
        replace: allow replacing a different method already registered under the same name.

    Returns:
        ``method`` unchanged, so ``@register`` leaves the decorated class in place.

    Raises:
        TypeError: not a method, or its ``Config`` is not a dataclass whose fields all have defaults.
        ValueError: no name, or the name is taken by another method.
    """
    instance = method() if isinstance(method, type) else method
    if not isinstance(instance, Method):
        raise TypeError(f"{method!r} is not a recon.train.Method")
    if not instance.name:
        raise ValueError(f"{method!r} has no name")
    if instance.selection[1] not in ("min", "max"):
        raise ValueError(
            f"method {instance.name!r}: selection order must be 'min' or 'max', not {instance.selection[1]!r}"
        )
    cls = instance.Config
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"method {instance.name!r}: Config must be a dataclass, not {cls!r}")
    try:
        cls()
    except TypeError as err:
        raise TypeError(f"method {instance.name!r}: every Config field needs a default ({err})") from None
    old = METHODS.get(instance.name)
    if old is not None and not replace:
        if _qualified(type(old)) != _qualified(type(instance)):
            raise ValueError(f"method name {instance.name!r} is taken by {old!r}")
        return method  # registered already (a module imported twice): keep the first instance
    METHODS[instance.name] = instance
    return method


def _qualified(cls: type) -> str:
    """``module.QualifiedName`` of a class (the same for a class and its re-import)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def discover_methods(package: str = METHOD_PACKAGE) -> dict[str, str]:
    """Import every module under ``package`` once, so that the families there register themselves.

    Returns:
        ``{module: error}`` for the modules that failed to import (kept, not raised, so that one
        family's missing optional dependency does not hide the others).
    """
    global _discovery
    if _discovery is not None and package == METHOD_PACKAGE:
        return _discovery
    errors: dict[str, str] = {}
    try:
        root = importlib.import_module(package)
    except ImportError as err:
        errors[package] = f"{type(err).__name__}: {err}"
    else:

        def failed(name: str) -> None:
            errors[name] = "import failed while listing its modules"

        for info in pkgutil.walk_packages(getattr(root, "__path__", []), f"{package}.", onerror=failed):
            try:
                importlib.import_module(info.name)
            except Exception as err:  # a broken family must not hide the others
                errors[info.name] = f"{type(err).__name__}: {err}"
    if package == METHOD_PACKAGE:
        _discovery = errors
    return errors


def get_method(name: str | Method) -> Method:
    """The method registered as ``name`` (a :class:`Method` is returned as is).

    Looks in :data:`METHODS`, then imports the modules of :data:`METHOD_PACKAGE`, then reads
    ``module:attribute`` specs (importing the module and registering the attribute).

    Raises:
        ValueError: unknown name, listing the known ones (and modules that failed to import).
    """
    if isinstance(name, Method):
        return name
    if name in METHODS:
        return METHODS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        register(obj)
        return METHODS[obj.name]
    errors = discover_methods()
    if name in METHODS:
        return METHODS[name]
    message = f"unknown method {name!r}; known: {sorted(METHODS)}"
    if errors:
        message += "; modules that failed to import: " + "; ".join(f"{m} ({e})" for m, e in errors.items())
    raise ValueError(message)


def unwrap_model(model):
    """The network inside a ``DistributedDataParallel`` (or ``torch.compile``) wrapper, else ``model``."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    while True:
        if isinstance(model, (DistributedDataParallel, DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


# --------------------------------------------------------------------------------------------------
# Configs


def _field_docstrings(cls: type) -> dict[str, str]:
    """Docstrings written under the fields of a class (``x: int = 1`` then ``\"\"\"doc\"\"\"``)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def config_help(cls: type) -> dict[str, dict[str, Any]]:
    """Fields of a config dataclass with their types, defaults and descriptions.

    Returns:
        ``{field: {"type": str, "default": value, "help": str}}`` in field order; ``help`` comes
        from ``metadata["help"]`` or the docstring under the field (empty when neither exists).
        Nested config dataclasses appear with dotted names (``encoder.depth``).
    """
    docs = _field_docstrings(cls)
    hints = typing.get_type_hints(cls)
    default = cls()
    out: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            for key, info in config_help(type(value)).items():
                out[f"{f.name}.{key}"] = info
            continue
        hint = hints.get(f.name, Any)
        out[f.name] = {
            "type": getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint),
            "default": _plain(value),
            "help": f.metadata.get("help", docs.get(f.name, "")),
        }
    return out


def _plain(value: Any) -> Any:
    """``value`` with dataclasses as dicts and tuples as lists (what YAML writes and reads)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain nested dict (tuples as lists), ready for YAML or JSON.

    :func:`build_config` of the result gives back an equal config.
    """
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"not a dataclass instance: {config!r}")
    return _plain(config)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to the type ``hint`` where that is lossless; ConfigError otherwise."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is typing.Any:
        return value
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {hint}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item = args[0] if args else Any
            items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if number.is_integer():
                    return int(number)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def build_config(cls: type, overrides: Mapping[str, Any] | None = None, *, base: Any = None, where: str = ""):
    """A config dataclass from its defaults (or ``base``) and a nested mapping of overrides.

    Args:
        cls: the config dataclass.
        overrides: ``{field: value}``; a field that is itself a config dataclass takes a mapping of
            its own fields. An instance of ``cls`` is returned as is.
        base: the config to start from (default ``cls()``).
        where: prefix of the key paths in error messages (e.g. ``"model"``).

    Raises:
        ConfigError: unknown key (named, with the known ones), or a value of the wrong type or out of
            a field's choices.
    """
    if isinstance(overrides, cls):
        return overrides
    base = cls() if base is None else base
    if overrides is None:
        return base
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {overrides!r}")
    overrides = _renamed(cls, overrides, where)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    changes = {}
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"unknown key {path!r}; known keys{f' of {where!r}' if where else ''}: {names}")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            changes[key] = build_config(type(current), value, base=current, where=path)
        else:
            changes[key] = _coerce(value, hints.get(key, Any), path)
    try:
        return dataclasses.replace(base, **changes)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {err}") from None


def _renamed(cls: type, overrides: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """``overrides`` with the old keys of ``cls.RENAMED_KEYS`` under their new names (and a warning)."""
    renamed = getattr(cls, "RENAMED_KEYS", {})
    if not any(key in renamed for key in overrides):
        return overrides
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        new = renamed.get(key, key)
        if new != key:
            old_path, new_path = (f"{where}.{k}" if where else k for k in (key, new))
            if new in overrides:
                raise ConfigError(f"{old_path!r} and {new_path!r} are the same setting; keep {new_path!r}")
            warnings.warn(
                f"{old_path!r} is renamed {new_path!r}; the old key is read until the next release",
                FutureWarning,
                stacklevel=3,
            )
        out[new] = value
    return out


def method_config(method: str | Method, overrides: Mapping[str, Any] | None = None, *, where: str = "model"):
    """The method's ``Config`` with ``overrides`` (a nested mapping, e.g. an experiment's ``model:``).

    Raises:
        ConfigError: unknown key (named, with the known ones) or a value of the wrong type.
    """
    return build_config(get_method(method).Config, overrides, where=where)


def check_choices(config: Any) -> None:
    """Check the ``Literal`` fields of a config dataclass (call it from ``__post_init__``).

    Raises:
        ConfigError: a field's value is not one of its choices.
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        hint = hints.get(f.name)
        if typing.get_origin(hint) is typing.Literal:
            _coerce(getattr(config, f.name), hint, f.name)
