"""The SGLang router: its two API generations, the workers pane, drain and worker-to-job matching."""
