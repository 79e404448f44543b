"""Config groups every paper's Hydra app shares (`pkg://toolkit.conf` on its search path):
router, local_sched, model, gpu, cost, cluster. A paper's own `conf/` holds only its groups
and overlays; an option added here appears in every app."""
