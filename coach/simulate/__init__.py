"""Simulators, together: nothing here is a real sensor.

    gait.py      a walking person (forward, backward, pauses, turns...) rendered as any worn
                 accelerometer; trains the model (`coach train`) and drives `coach demo`
    ble.py       simulated BLE sensors speaking each profile's protocol (`coach run --device
                 sim:PROFILE`, and the tests)
    coaching.py  detector output (direction segments) without the detector, for the coach's tests
    bench.py     many simulated streams through `coach serve`'s worker (capacity benchmark:
                 `python -m coach.simulate.bench`)
"""
