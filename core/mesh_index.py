"""The landmark index tables of the mediapipe face mesh (468 points) plus its two irises (10 points).

One table for the whole engine: face analysis, motion extraction, the renderer's bases, layers and
lip seal all read their contours here, so a contour is fixed in one place and no module imports
another just for its numbers. Pure data, no imports: any module may import it.
"Right" is the subject's right, which is the image left (x < 0 in the canonical frame).
"""

from __future__ import annotations

N_MESH = 468  # mediapipe face mesh topology
N_POINTS = 478  # mesh + two irises (centre then 4 contour points, subject's right eye first)

# --- eyes: lid lines run from the outer corner's side to the inner corner's side
EYE_UPPER = {"Right": (246, 161, 160, 159, 158, 157, 173), "Left": (466, 388, 387, 386, 385, 384, 398)}
EYE_LOWER = {"Right": (7, 163, 144, 145, 153, 154, 155), "Left": (249, 390, 373, 374, 380, 381, 382)}
EYE_CORNERS = {"Right": (33, 133), "Left": (263, 362)}  # (outer, inner)
# Upper/lower lid pairs at the middle of each eye: how open an eye is.
LID_PAIRS = {"Right": ((159, 145), (158, 153), (160, 144)), "Left": ((386, 374), (385, 380), (387, 373))}
IRIS = {"Right": tuple(range(468, 473)), "Left": tuple(range(473, 478))}  # centre, then 4 contour points
IRIS_CENTER = {"Right": 468, "Left": 473}

# --- mouth
LIP_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUTER_LOWER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_INNER_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
MOUTH_CORNERS = {"Right": 61, "Left": 291}
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14

# --- brows, nose, outline
BROWS = {"Right": (46, 52, 53, 55, 63, 65, 66, 70, 105, 107), "Left": (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)}
NOSE_ALA = {"Right": 129, "Left": 358}
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
CHEEKS = (234, 454)  # subject's right, left (at the ears): one face width apart
# The face outline, clockwise from the forehead.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Points that move little with expression: the rigid set for pose estimation.
RIGID_POINTS = (
    33, 133, 263, 362,            # eye corners
    168, 6, 197, 195, 5, 4, 1,    # nose bridge and tip
    10, 151, 9, 8, 108, 337, 69, 299,  # forehead
    234, 454, 127, 356, 93, 323,  # cheeks at the ears
    98, 327, 129, 358,            # nostrils
)
SIDES = ("Left", "Right")
