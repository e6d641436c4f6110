"""The tabs: one module per modality panel (each with `build_panel`), and Compare, Explore, History
and the shared view. Shared plumbing (run rendering, forms, Stop, History's log) is in `ui/`."""
