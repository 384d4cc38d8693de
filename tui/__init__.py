"""Phoenyra EMS technician's console (``phoenyra-tui``), a Textual app over ``phoenyra_ems.client``.

``tui.core`` is the headless part (state store, coalescing, keymap, actions, connection manager)
and never imports Textual; ``tui.app``, ``tui.screens`` and ``tui.widgets`` are the Textual views.
"""
