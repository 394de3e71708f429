"""Disease sentences for contrastive pre-training and zero-shot clue perception.

Each finding has positive and negative sentences in the words of the report corpus. Training samples one of each
per step; the shipped clue embeddings average all of them (prompt ensembling, as in CLIP's zero-shot classifiers).
"""
PROMPTS: dict[str, tuple[list[str], list[str]]] = {
    "Enlarged Cardiomediastinum": (
        ["The mediastinum is widened.", "Widened mediastinum.", "Mediastinal widening."],
        ["The mediastinum is not widened.", "Normal mediastinal contours.", "No mediastinal widening."],
    ),
    "Cardiomegaly": (
        ["Cardiomegaly.", "The heart is enlarged.", "Enlarged cardiac silhouette."],
        ["No cardiomegaly.", "The heart size is normal.", "Normal cardiac silhouette."],
    ),
    "Lung Opacity": (
        ["Hazy opacity in the lung.", "Patchy opacities.", "There is an opacity."],
        ["No focal opacity.", "The lungs are clear.", "No opacities."],
    ),
    "Lung Lesion": (
        ["Pulmonary nodule.", "There is a lung mass.", "A nodule in the lung."],
        ["No pulmonary nodules or masses.", "No nodule.", "No lung mass."],
    ),
    "Edema": (
        ["Pulmonary edema.", "Interstitial edema.", "There is pulmonary edema."],
        ["No pulmonary edema.", "No edema.", "No evidence of edema."],
    ),
    "Consolidation": (
        ["Focal consolidation.", "Airspace consolidation.", "There is consolidation."],
        ["No focal consolidation.", "No consolidation.", "No airspace consolidation."],
    ),
    "Atelectasis": (
        ["Atelectasis.", "Basilar atelectasis.", "There is atelectasis."],
        ["No atelectasis.", "No evidence of atelectasis.", "No basilar atelectasis."],
    ),
    "Pneumothorax": (
        ["Pneumothorax.", "There is a pneumothorax.", "Apical pneumothorax."],
        ["No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."],
    ),
    "Pleural Effusion": (
        ["Pleural effusion.", "There is a pleural effusion.", "Blunting of the costophrenic angle."],
        ["No pleural effusion.", "There is no pleural effusion.", "The costophrenic angles are sharp."],
    ),
    "Pleural Other": (
        ["Pleural thickening.", "There is pleural thickening.", "Thickening of the pleura."],
        ["No pleural thickening.", "No pleural abnormality.", "The pleura is normal."],
    ),
    "Fracture": (
        ["Rib fracture.", "There is a rib fracture.", "Fracture of a rib."],
        ["No rib fracture.", "No acute osseous abnormality.", "No fracture."],
    ),
    "Support Devices": (
        ["Support device in place.", "A line or tube is present.", "Tube and line in place."],
        ["No support devices.", "No lines or tubes.", "No device."],
    ),
}
