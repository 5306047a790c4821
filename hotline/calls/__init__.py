"""Call control: where telephony meets the desk.

For now one handler, :class:`~hotline.calls.first_handler.FirstCallHandler`:
every accepted call is recorded (call + issue rows), rung, answered with the
greeting, held and its end recorded.  IVR flows will replace it.
"""
