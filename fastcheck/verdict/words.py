"""The words a verdict chooses from: the advice for each verdict, and how a
note lists names. The rules pick among them; the reports print them."""

#: The advice for each verdict ("pass", "kinks", "unsure", "mistake").
ADVICE = {
    "pass": "the backward pass agrees with the numerical derivatives within their error "
            "estimates.",
    "kinks": "the backward pass agrees with the numerical derivatives; at the coordinates "
             "listed as kinks a step crosses a kink, and the gradient lies between the left "
             "and right slopes there, as a subgradient should.",
    "unsure": "some coordinates disagree beyond their error estimates and could not be "
              "examined closer (see the notes): fastcheck cannot tell whether the gradient "
              "is wrong there. Check them alone with sample= or a larger eps.",
    "mistake": "a gradient is wrong: start with the tensors marked WRONG and their worst "
               "index.",
}
#: "unsure" because a tensor's error estimates are not well below its gradient.
BLIND_ADVICE = ("the error estimates of some tensors are not well below their gradients "
                "(see the notes): fastcheck cannot tell whether those are right.")
#: A directional check whose estimates are too coarse to judge.
DIRECTIONS_UNSURE = ("the estimates' error is not well below the directional derivatives: "
                     "fastcheck cannot tell whether the gradient is right (see the notes).")
#: A directional check cannot say where.
DIRECTIONS_MISTAKE = ("a gradient is wrong somewhere; directions cannot say where: run "
                      "check(..., sample=...) or a full check to find the tensor.")

#: A note lists at most this many tensors by name.
NOTE_NAMES = 8


def listed(items):
    """``items`` (strings) joined by commas, the first ``NOTE_NAMES`` of them and a
    count of the rest."""
    shown = ", ".join(items[:NOTE_NAMES])
    return shown + (f" and {len(items) - NOTE_NAMES} more" if len(items) > NOTE_NAMES else "")


def engine_reason(kind, asked, jit, chosen, compile_seconds, notes):
    """One line: why a check of a ``kind`` cost ("Python cost", "jit cost",
    "built-in model") ran on engine ``chosen`` when ``asked`` (``engine=``) and
    ``jit`` were given; ``compile_seconds`` its compiling, ``notes`` the engine
    choice's lines (a refusal to compile says why)."""
    if chosen == "layered":
        return ("layered: a built-in model; its engine recomputes only the layers a "
                "perturbation changes")
    if asked != "auto":
        return f"{chosen}: asked for with engine={asked!r}"
    if chosen == "incremental":
        return ("incremental: the compiled cost's record recomputes, per coordinate, only "
                "what depends on it (costs.incremental)")
    if jit is False:
        return "python: jit=False runs the cost as it is"
    if jit in (True, "trace"):
        return f"{chosen}: jit={jit!r} compiles the cost"
    if kind != "Python cost":
        return f"{chosen}: the engine a {kind} runs on"
    # A refusal to compile says why; the notes on a close call, whose figures are
    # timings, stay notes (a report's reason is the same on a loaded machine).
    said = next((note for note in notes if note.startswith("ran in Python:")), None)
    if chosen == "generic":
        return "generic: " + (said or ("the cost was compiled before (cache)" if
                                       compile_seconds < 0.01 else
                                       "compiling the cost was predicted to pay for itself"))
    return "python: " + (said or "the check was predicted to be short: compiling would not pay")
