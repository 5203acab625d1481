"""The module paths of the 0.1 layout, kept as aliases for one release.

`import mixvocab_tf.distillation.distiller` still works and warns once with the new path
(`mixvocab_tf.stage2.distiller`); the alias is the new module itself, so `isinstance` checks,
Keras registrations and monkeypatching see one object. Remove this file and its hook in
`mixvocab_tf/__init__.py` in the release after 0.2 (CHANGELOG.md).

Written by hand because the standard library has no module alias: a `sys.modules` entry would
need the new module imported eagerly (all of TensorFlow for `import mixvocab_tf`).
"""

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

# Old path -> new path; None for a package that no longer exists (its modules moved apart): an
# empty package stands in, so `from mixvocab_tf.distillation import losses` finds its alias.
MOVED_MODULES = {
    "mixvocab_tf.distillation": None,
    "mixvocab_tf.distillation.distiller": "mixvocab_tf.stage2.distiller",
    "mixvocab_tf.distillation.student_distillation": "mixvocab_tf.stage2.student_distillation",
    "mixvocab_tf.distillation.sentence_embedding": "mixvocab_tf.stage2.sentence_embedding",
    "mixvocab_tf.distillation.losses": "mixvocab_tf.losses.distillation",
    "mixvocab_tf.models.teacher_training": "mixvocab_tf.stage1.teacher_training",
    "mixvocab_tf.models.pooling": "mixvocab_tf.layers.pooling",
    "mixvocab_tf.models.ngram_bag": "mixvocab_tf.layers.ngram_bag",
    "mixvocab_tf.pretrained": "mixvocab_tf.models.pretrained",
    "mixvocab_tf.tasks.encoder": "mixvocab_tf.models.encoders",
    "mixvocab_tf.export.assistant": "mixvocab_tf.assistant.bundle",
    "mixvocab_tf.vocab.statistics": "mixvocab_tf.preprocessing.vocabulary_statistics",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads the module at its new path under both names."""

    def __init__(self, moved):
        self.moved = dict(moved)
        self._specs = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.moved:
            return None
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=self.moved[fullname] is None)

    def create_module(self, spec):
        new_name = self.moved[spec.name]
        if new_name is None:
            return types.ModuleType(spec.name)
        warnings.warn(f"{spec.name} has moved to {new_name}; the old path goes in the next "
                      "release.", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(new_name)
        # The import machinery sets __spec__ on what it gets back; keep the module's own.
        self._specs[id(module)] = module.__spec__
        return module

    def exec_module(self, module):
        if self.moved.get(module.__name__, "") is None:
            module.__path__ = []
            return
        module.__spec__ = self._specs.pop(id(module), module.__spec__)


def install():
    """Adds the finder to `sys.meta_path` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        # First: the path finder would otherwise load a second copy of a module found through
        # an aliased package's __path__ (mixvocab_tf.distillation.distiller in stage2/).
        sys.meta_path.insert(0, MovedModuleFinder(MOVED_MODULES))
