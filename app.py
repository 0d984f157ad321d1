"""The GhostNet Workbench dashboard: `streamlit run app.py [-- --storage URL --study NAME]`.

A thin page over `workbench.dashboard`; it only reads the study (see DESIGN.md). The
storage defaults to the CLI's `sqlite:///workbench.db`; `WORKBENCH_STORAGE` and
`WORKBENCH_STUDY` set the storage and the study too.
"""

from workbench.dashboard.page import main

main()
