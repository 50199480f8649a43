"""The articulation yardstick (`marionette eval articulation`): a generator's mouth on speech of
speakers Marionette never trains on, against a truth built from force-aligned phones and a
per-phone jaw/lip table from phonetics measurements; shares no code with the teacher (core/teacher)."""
