"""Model families, one subpackage each, and the parts they share.

A family lives in ``recon/models/<family>/``: ``config.py`` (its hyper-parameters, a dataclass),
``network.py`` (its ``torch.nn`` modules), ``loss.py`` and ``method.py`` (its
:class:`recon.models.method.Method`, decorated with :func:`~recon.models.method.register`). The
registry imports every subpackage here (:func:`recon.models.method.discover_methods`), so a family is
found by its ``method:`` name in an experiment file as soon as its package exists: ``disn``
and ``disn_camera`` (:mod:`recon.models.disn`), ``r2n2`` (:mod:`recon.models.r2n2`), ``genre``
(:mod:`recon.models.genre`), ``onet`` (:mod:`recon.models.onet`), ``ogn`` (:mod:`recon.models.ogn`),
``mem3d`` (:mod:`recon.models.mem3d`), ``psgn`` (:mod:`recon.models.psgn`) and ``atlasnet``
(:mod:`recon.models.atlasnet`). Point-set losses for training (Chamfer,
EMD): :mod:`~recon.models.point_losses`.

Shared by the families: :mod:`~recon.models.encoders` (image encoders with torchvision's parameter
names), :mod:`~recon.models.layers` (point MLPs, conditional batch norm),
:mod:`~recon.models.geometry` (camera projection, feature sampling, 6D rotations) and
:mod:`~recon.models.inputs` (packed RGBA views to encoder input). Models read batches, never stores
or other stages: they import :mod:`recon.geometry` and :mod:`recon.models.method`, not
:mod:`recon.io` or :mod:`recon.evaluate`.
"""
