"""ReceiverStats across SSRC changes: each source counted on its own, the summary adds them up."""

from hotline.media.rtcp import ReceiverStats


def test_a_new_ssrc_is_a_new_source_not_a_loss() -> None:
    stats = ReceiverStats()
    t = 0.0
    for i in range(100):  # speech: SSRC A, seq 1000..1099
        t += 0.02
        stats.update_fields(0xA, 1000 + i, 50_000 + 160 * i, 160, t)
    for i in (0, 2, 3):  # a digit from SSRC B, seq 2000.., one packet lost
        t += 0.02
        stats.update_fields(0xB, 2000 + i, 90_000, 4, t)
    assert stats.ssrc == 0xB and stats.sources == 2
    block = stats.report_block(t)
    assert block.ssrc == 0xB and block.highest_seq == 2003 and block.cumulative_lost == 1
    summary = stats.summary()
    assert (summary["packets"], summary["expected"], summary["lost"]) == (103, 104, 1)
    # Back to A (a new source again, counted from where it resumes).
    stats.update_fields(0xA, 1100, 50_000 + 160 * 100, 160, t + 0.02)
    assert stats.sources == 3 and stats.summary()["lost"] == 1
