package forms

// The words of the hosted pages in every language a form may use. Field labels and messages
// are Steward's; consent boxes are worded from the catalog's purpose (or the form's own label
// for the language) after a fixed lead-in, so the customer reads what the ledger records.

// Text is what one language says.
type Text struct {
	Labels                                                   map[string]string
	Required, Optional, Submit, ConsentLead, ConsentNote     string
	PolicyNote, Thanks, ThanksConfirm, Confirmed, Honeypot   string
	MissingField, TooFast, Invalid, DidYouMean, KeepAsTyped  string
	Disposable, ConfirmSubject, ConfirmBody, ErrorTitle      string
	ConfirmedTitle, ThanksTitle, NoPolicy, PolicyChanged     string
	LinkUsed, LinkExpired, TooMany, Errors, ConfirmedNothing string
}

var texts = map[string]Text{
	"en": {
		Labels: map[string]string{"first_name": "First name", "last_name": "Last name", "email": "E-mail address", "phone": "Phone number",
			"birth_date": "Date of birth", "address_line1": "Address", "address_line2": "Address (line 2)", "city": "Town or city",
			"region": "County or region", "postal_code": "Postcode", "country": "Country", "language": "Language", "company": "Company", "job_title": "Job title"},
		Required: "required", Optional: "optional", Submit: "Send",
		ConsentLead: "Yes, I agree:", ConsentNote: "Each box is up to you; you can change your mind at any time.",
		PolicyNote: "How we use your data is described in our privacy notice (policy version %s).", NoPolicy: "Our privacy notice describes how we use your data.",
		ThanksTitle: "Thank you", Thanks: "We have your details.",
		ThanksConfirm:  "We have sent you an e-mail: please follow the link in it to confirm what you agreed to.",
		ConfirmedTitle: "Confirmed", Confirmed: "Thank you: your choice is confirmed.", ConfirmedNothing: "There was nothing left to confirm.",
		Honeypot: "Leave this field empty", MissingField: "%s is required.", TooFast: "That was quicker than a person types. Please check your details and send the form again.",
		Invalid: "%s does not look right: %s", DidYouMean: "Did you mean %s?", KeepAsTyped: "My address is right as typed",
		Disposable:     "Please use an e-mail address you keep: this one is from a throwaway service.",
		ConfirmSubject: "Please confirm", ConfirmBody: "Please confirm that you agreed to the following by opening this link:\n\n%s\n\n%s\n\nIf this was not you, ignore this message: nothing happens without your confirmation.",
		ErrorTitle: "Please check the form", LinkUsed: "This link was used already or never issued.", LinkExpired: "This link has expired: please fill in the form again.",
		TooMany: "Too many submissions from your connection; please try again later.", Errors: "Please correct the following:",
		PolicyChanged: "Our privacy policy changed while you filled in the form: please read it and tick your choices again.",
	},
	"de": {
		Labels: map[string]string{"first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail-Adresse", "phone": "Telefonnummer",
			"birth_date": "Geburtsdatum", "address_line1": "Adresse", "address_line2": "Adresszusatz", "city": "Ort",
			"region": "Bundesland oder Region", "postal_code": "Postleitzahl", "country": "Land", "language": "Sprache", "company": "Firma", "job_title": "Position"},
		Required: "Pflichtfeld", Optional: "freiwillig", Submit: "Absenden",
		ConsentLead: "Ja, ich willige ein:", ConsentNote: "Jedes Feld ist freiwillig; Sie können Ihre Einwilligung jederzeit widerrufen.",
		PolicyNote: "Wie wir Ihre Daten verwenden, steht in unserer Datenschutzerklärung (Version %s).", NoPolicy: "Wie wir Ihre Daten verwenden, steht in unserer Datenschutzerklärung.",
		ThanksTitle: "Vielen Dank", Thanks: "Wir haben Ihre Angaben erhalten.",
		ThanksConfirm:  "Wir haben Ihnen eine E-Mail geschickt: Bitte bestätigen Sie Ihre Einwilligung über den Link darin.",
		ConfirmedTitle: "Bestätigt", Confirmed: "Vielen Dank: Ihre Auswahl ist bestätigt.", ConfirmedNothing: "Es gab nichts mehr zu bestätigen.",
		Honeypot: "Dieses Feld bitte leer lassen", MissingField: "%s ist ein Pflichtfeld.", TooFast: "Das ging schneller, als ein Mensch tippt. Bitte prüfen Sie Ihre Angaben und senden Sie das Formular erneut.",
		Invalid: "%s scheint nicht zu stimmen: %s", DidYouMean: "Meinten Sie %s?", KeepAsTyped: "Meine Adresse ist so richtig",
		Disposable:     "Bitte verwenden Sie eine dauerhafte E-Mail-Adresse: Diese stammt von einem Wegwerfdienst.",
		ConfirmSubject: "Bitte bestätigen", ConfirmBody: "Bitte bestätigen Sie, dass Sie Folgendem zugestimmt haben, indem Sie diesen Link öffnen:\n\n%s\n\n%s\n\nWaren Sie das nicht, ignorieren Sie diese Nachricht: Ohne Ihre Bestätigung geschieht nichts.",
		ErrorTitle: "Bitte prüfen Sie das Formular", LinkUsed: "Dieser Link wurde bereits verwendet oder nie ausgegeben.", LinkExpired: "Dieser Link ist abgelaufen: Bitte füllen Sie das Formular erneut aus.",
		TooMany: "Zu viele Anfragen von Ihrer Verbindung; bitte versuchen Sie es später erneut.", Errors: "Bitte korrigieren Sie Folgendes:",
		PolicyChanged: "Unsere Datenschutzerklärung hat sich geändert, während Sie das Formular ausgefüllt haben: Bitte lesen Sie sie und wählen Sie erneut.",
	},
	"fr": {
		Labels: map[string]string{"first_name": "Prénom", "last_name": "Nom", "email": "Adresse e-mail", "phone": "Numéro de téléphone",
			"birth_date": "Date de naissance", "address_line1": "Adresse", "address_line2": "Complément d'adresse", "city": "Ville",
			"region": "Région", "postal_code": "Code postal", "country": "Pays", "language": "Langue", "company": "Entreprise", "job_title": "Fonction"},
		Required: "obligatoire", Optional: "facultatif", Submit: "Envoyer",
		ConsentLead: "Oui, j'accepte :", ConsentNote: "Chaque case est facultative ; vous pouvez changer d'avis à tout moment.",
		PolicyNote: "Notre politique de confidentialité (version %s) explique comment nous utilisons vos données.", NoPolicy: "Notre politique de confidentialité explique comment nous utilisons vos données.",
		ThanksTitle: "Merci", Thanks: "Nous avons bien reçu vos informations.",
		ThanksConfirm:  "Nous vous avons envoyé un e-mail : suivez le lien qu'il contient pour confirmer votre accord.",
		ConfirmedTitle: "Confirmé", Confirmed: "Merci : votre choix est confirmé.", ConfirmedNothing: "Il n'y avait plus rien à confirmer.",
		Honeypot: "Laissez ce champ vide", MissingField: "%s est obligatoire.", TooFast: "C'était plus rapide qu'une personne ne tape. Vérifiez vos informations et renvoyez le formulaire.",
		Invalid: "%s ne semble pas correct : %s", DidYouMean: "Vouliez-vous dire %s ?", KeepAsTyped: "Mon adresse est correcte telle quelle",
		Disposable:     "Merci d'utiliser une adresse e-mail durable : celle-ci provient d'un service jetable.",
		ConfirmSubject: "Merci de confirmer", ConfirmBody: "Merci de confirmer votre accord pour ce qui suit en ouvrant ce lien :\n\n%s\n\n%s\n\nSi ce n'était pas vous, ignorez ce message : rien ne se passe sans votre confirmation.",
		ErrorTitle: "Merci de vérifier le formulaire", LinkUsed: "Ce lien a déjà été utilisé ou n'a jamais été émis.", LinkExpired: "Ce lien a expiré : merci de remplir à nouveau le formulaire.",
		TooMany: "Trop d'envois depuis votre connexion ; réessayez plus tard.", Errors: "Merci de corriger ce qui suit :",
		PolicyChanged: "Notre politique de confidentialité a changé pendant que vous remplissiez le formulaire : lisez-la et cochez à nouveau vos choix.",
	},
	"es": {
		Labels: map[string]string{"first_name": "Nombre", "last_name": "Apellidos", "email": "Correo electrónico", "phone": "Teléfono",
			"birth_date": "Fecha de nacimiento", "address_line1": "Dirección", "address_line2": "Dirección (línea 2)", "city": "Ciudad",
			"region": "Provincia o región", "postal_code": "Código postal", "country": "País", "language": "Idioma", "company": "Empresa", "job_title": "Cargo"},
		Required: "obligatorio", Optional: "opcional", Submit: "Enviar",
		ConsentLead: "Sí, acepto:", ConsentNote: "Cada casilla es opcional; puedes cambiar de opinión en cualquier momento.",
		PolicyNote: "Nuestra política de privacidad (versión %s) explica cómo usamos tus datos.", NoPolicy: "Nuestra política de privacidad explica cómo usamos tus datos.",
		ThanksTitle: "Gracias", Thanks: "Hemos recibido tus datos.",
		ThanksConfirm:  "Te hemos enviado un correo: sigue el enlace para confirmar lo que aceptaste.",
		ConfirmedTitle: "Confirmado", Confirmed: "Gracias: tu elección está confirmada.", ConfirmedNothing: "No quedaba nada por confirmar.",
		Honeypot: "Deja este campo vacío", MissingField: "%s es obligatorio.", TooFast: "Ha sido más rápido de lo que escribe una persona. Revisa tus datos y vuelve a enviar el formulario.",
		Invalid: "%s no parece correcto: %s", DidYouMean: "¿Quisiste decir %s?", KeepAsTyped: "Mi dirección es correcta tal cual",
		Disposable:     "Usa una dirección de correo que conserves: esta es de un servicio desechable.",
		ConfirmSubject: "Confirma, por favor", ConfirmBody: "Confirma que aceptaste lo siguiente abriendo este enlace:\n\n%s\n\n%s\n\nSi no fuiste tú, ignora este mensaje: no pasa nada sin tu confirmación.",
		ErrorTitle: "Revisa el formulario", LinkUsed: "Este enlace ya se usó o nunca se emitió.", LinkExpired: "Este enlace ha caducado: vuelve a rellenar el formulario.",
		TooMany: "Demasiados envíos desde tu conexión; inténtalo más tarde.", Errors: "Corrige lo siguiente:",
		PolicyChanged: "Nuestra política de privacidad cambió mientras rellenabas el formulario: léela y vuelve a marcar tus opciones.",
	},
}

// TextFor returns the words of lang (English for an unknown one).
func TextFor(lang string) Text {
	if t, ok := texts[lang]; ok {
		return t
	}
	return texts["en"]
}

// Label is a field's label in lang.
func (t Text) Label(field string) string {
	if l, ok := t.Labels[field]; ok {
		return l
	}
	return field
}
