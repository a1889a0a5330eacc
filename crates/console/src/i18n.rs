//! The console's words, in English and in Portuguese (pt-PT). One struct with a field a
//! string, so that a string missing in either language does not compile.

use lead_inbox_domain::LeadStatus;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Pt,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Pt];

    /// The `lang` attribute and the `?lang=` value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pt => "pt-PT",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        if code == "en" || code.starts_with("en-") {
            Some(Lang::En)
        } else if code == "pt" || code.starts_with("pt-") {
            Some(Lang::Pt)
        } else {
            None
        }
    }

    /// The first language of an `Accept-Language` header the console speaks, by the
    /// header's weights; English when none is.
    pub fn negotiate(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::En;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default();
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag)
                && weight > 0.0
                && best.is_none_or(|(w, _)| weight > w)
            {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Pt => &PT,
        }
    }
}

/// Every string the console shows.
#[derive(Debug)]
pub struct Texts {
    pub app: &'static str,
    pub skip: &'static str,
    pub nav_label: &'static str,
    pub inbox: &'static str,
    pub contacts: &'static str,
    pub quarantine: &'static str,
    pub statistics: &'static str,
    pub admin: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub language: &'static str,
    pub other_language: &'static str,
    pub other_language_code: &'static str,
    pub sign_in_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub wrong_credentials: &'static str,
    pub expired_form: &'static str,
    pub search: &'static str,
    pub status: &'static str,
    pub any: &'static str,
    pub entity_type: &'static str,
    pub assignee: &'static str,
    pub tag: &'static str,
    pub tags: &'static str,
    pub received_from: &'static str,
    pub received_to: &'static str,
    pub filter: &'static str,
    pub clear: &'static str,
    pub leads_caption: &'static str,
    pub counts_caption: &'static str,
    pub reference: &'static str,
    pub received: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub anomalies: &'static str,
    pub count: &'static str,
    pub next_page: &'static str,
    pub no_leads: &'static str,
    pub live_new_lead: &'static str,
    pub lead: &'static str,
    pub fields_caption: &'static str,
    pub field: &'static str,
    pub value: &'static str,
    pub anomaly_mark: &'static str,
    pub created_at_portal: &'static str,
    pub entity_public_id: &'static str,
    pub entity_reference: &'static str,
    pub source: &'static str,
    pub message: &'static str,
    pub residents: &'static str,
    pub pets: &'static str,
    pub move_timeline: &'static str,
    pub income: &'static str,
    pub letter: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub contact_leads: &'static str,
    pub no_other_leads: &'static str,
    pub work: &'static str,
    pub note: &'static str,
    pub tags_hint: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub conflict: &'static str,
    pub refused: &'static str,
    pub history: &'static str,
    pub no_history: &'static str,
    pub changed_by: &'static str,
    pub reopened: &'static str,
    pub notes: &'static str,
    pub payload: &'static str,
    pub deliveries_pending: &'static str,
    pub contacts_caption: &'static str,
    pub leads_count: &'static str,
    pub last_lead: &'static str,
    pub quarantine_caption: &'static str,
    pub reason: &'static str,
    pub replay: &'static str,
    pub delete: &'static str,
    pub replayed: &'static str,
    pub still_refused: &'static str,
    pub deleted: &'static str,
    pub empty_quarantine: &'static str,
    pub per_day: &'static str,
    pub chart_title: &'static str,
    pub by_entity_type: &'static str,
    pub by_status: &'static str,
    pub total: &'static str,
    pub none: &'static str,
    pub users: &'static str,
    pub role: &'static str,
    pub created: &'static str,
    pub disabled: &'static str,
    pub disable: &'static str,
    pub create_user: &'static str,
    pub webhook_tokens: &'static str,
    pub api_keys: &'static str,
    pub scopes: &'static str,
    pub revoke: &'static str,
    pub revoked: &'static str,
    pub create: &'static str,
    pub secret_once: &'static str,
    pub valid: &'static str,
    pub forbidden: &'static str,
    pub not_found: &'static str,
    pub unavailable: &'static str,
    pub bad_request: &'static str,
    pub back_to_inbox: &'static str,
    pub actions: &'static str,
    pub person: &'static str,
    pub person_hint: &'static str,
    pub find: &'static str,
    pub quarantined_mentions: &'static str,
    pub erase_all: &'static str,
    pub erased: &'static str,
}

impl Texts {
    /// A status, in words.
    pub fn status_name(&self, status: LeadStatus) -> &'static str {
        let english = std::ptr::eq(self, &EN);
        match (status, english) {
            (LeadStatus::New, true) => "New",
            (LeadStatus::New, false) => "Novo",
            (LeadStatus::Contacted, true) => "Contacted",
            (LeadStatus::Contacted, false) => "Contactado",
            (LeadStatus::Qualified, true) => "Qualified",
            (LeadStatus::Qualified, false) => "Qualificado",
            (LeadStatus::ViewingScheduled, true) => "Viewing scheduled",
            (LeadStatus::ViewingScheduled, false) => "Visita marcada",
            (LeadStatus::Offer, true) => "Offer",
            (LeadStatus::Offer, false) => "Proposta",
            (LeadStatus::Won, true) => "Won",
            (LeadStatus::Won, false) => "Ganho",
            (LeadStatus::Lost, true) => "Lost",
            (LeadStatus::Lost, false) => "Perdido",
            (LeadStatus::Spam, true) => "Spam",
            (LeadStatus::Spam, false) => "Spam",
            (LeadStatus::Duplicate, true) => "Duplicate",
            (LeadStatus::Duplicate, false) => "Duplicado",
        }
    }
}

pub static EN: Texts = Texts {
    app: "Lead Inbox",
    skip: "Skip to content",
    nav_label: "Main",
    inbox: "Inbox",
    contacts: "Contacts",
    quarantine: "Quarantine",
    statistics: "Statistics",
    admin: "Admin",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    language: "Language",
    other_language: "Português",
    other_language_code: "pt-PT",
    sign_in_title: "Sign in to Lead Inbox",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    wrong_credentials: "The username or password is not right.",
    expired_form: "The form expired. Please try again.",
    search: "Search",
    status: "Status",
    any: "Any",
    entity_type: "Entity type",
    assignee: "Assignee",
    tag: "Tag",
    tags: "Tags",
    received_from: "Received from",
    received_to: "Received until",
    filter: "Filter",
    clear: "Clear filters",
    leads_caption: "Leads, newest first",
    counts_caption: "Leads per status",
    reference: "Reference",
    received: "Received",
    name: "Name",
    email: "Email",
    phone: "Phone",
    anomalies: "Anomalies",
    count: "Count",
    next_page: "Next page",
    no_leads: "No lead matches.",
    live_new_lead: "New lead",
    lead: "Lead",
    fields_caption: "What the portal sent",
    field: "Field",
    value: "Value",
    anomaly_mark: "Anomaly",
    created_at_portal: "Created at the portal",
    entity_public_id: "Entity public id",
    entity_reference: "Entity reference",
    source: "Source",
    message: "Message",
    residents: "Residents",
    pets: "Pets",
    move_timeline: "Moving",
    income: "Monthly income",
    letter: "Presentation letter",
    yes: "Yes",
    no: "No",
    contact_leads: "The contact's other leads",
    no_other_leads: "None.",
    work: "Work this lead",
    note: "Note",
    tags_hint: "Separated by commas",
    save: "Save",
    saved: "Saved.",
    conflict: "Someone else changed this lead after you opened it. Nothing was overwritten: these are its current values. Make your change again.",
    refused: "This change is not allowed",
    history: "History",
    no_history: "No change yet.",
    changed_by: "by",
    reopened: "reopened",
    notes: "Notes",
    payload: "Original payload",
    deliveries_pending: "Deliveries will show here once forwarding is installed.",
    contacts_caption: "Contacts, most recently active first",
    leads_count: "Leads",
    last_lead: "Last lead",
    quarantine_caption: "Payloads that could not be leads, newest first",
    reason: "Reason",
    replay: "Replay",
    delete: "Delete",
    replayed: "Replayed: it is a lead now.",
    still_refused: "Still refused",
    deleted: "Deleted.",
    empty_quarantine: "The quarantine is empty.",
    per_day: "Leads per day, last 30 days",
    chart_title: "Bar chart of leads per day",
    by_entity_type: "Leads per entity type",
    by_status: "Leads per status",
    total: "Total",
    none: "none",
    users: "Users",
    role: "Role",
    created: "Created",
    disabled: "Disabled",
    disable: "Disable",
    create_user: "Create a user",
    webhook_tokens: "Webhook tokens",
    api_keys: "API keys",
    scopes: "Scopes",
    revoke: "Revoke",
    revoked: "Revoked",
    create: "Create",
    secret_once: "Copy this secret now: it is shown once and cannot be read again.",
    valid: "Valid",
    forbidden: "This page is for admins.",
    not_found: "There is nothing here.",
    unavailable: "The database cannot be reached just now. Try again in a moment.",
    bad_request: "The request is not valid",
    back_to_inbox: "Back to the inbox",
    actions: "Actions",
    person: "A person's data",
    person_hint: "Find everything held about a person by their email or phone (GDPR). The full export is GET /api/v1/subjects/export or lead-inbox export-subject.",
    find: "Find",
    quarantined_mentions: "Quarantined payloads that mention them",
    erase_all: "Erase everything about this person",
    erased: "Erased: leads and quarantined payloads",
};

pub static PT: Texts = Texts {
    app: "Lead Inbox",
    skip: "Saltar para o conteúdo",
    nav_label: "Principal",
    inbox: "Caixa de entrada",
    contacts: "Contactos",
    quarantine: "Quarentena",
    statistics: "Estatísticas",
    admin: "Administração",
    sign_out: "Terminar sessão",
    signed_in_as: "Sessão de",
    language: "Idioma",
    other_language: "English",
    other_language_code: "en",
    sign_in_title: "Iniciar sessão na Lead Inbox",
    username: "Nome de utilizador",
    password: "Palavra-passe",
    sign_in: "Iniciar sessão",
    wrong_credentials: "O nome de utilizador ou a palavra-passe não estão certos.",
    expired_form: "O formulário expirou. Tente de novo.",
    search: "Pesquisar",
    status: "Estado",
    any: "Qualquer",
    entity_type: "Tipo de entidade",
    assignee: "Responsável",
    tag: "Etiqueta",
    tags: "Etiquetas",
    received_from: "Recebidas desde",
    received_to: "Recebidas até",
    filter: "Filtrar",
    clear: "Limpar filtros",
    leads_caption: "Leads, mais recentes primeiro",
    counts_caption: "Leads por estado",
    reference: "Referência",
    received: "Recebida",
    name: "Nome",
    email: "Email",
    phone: "Telefone",
    anomalies: "Anomalias",
    count: "Número",
    next_page: "Página seguinte",
    no_leads: "Nenhuma lead corresponde.",
    live_new_lead: "Nova lead",
    lead: "Lead",
    fields_caption: "O que o portal enviou",
    field: "Campo",
    value: "Valor",
    anomaly_mark: "Anomalia",
    created_at_portal: "Criada no portal",
    entity_public_id: "Id público da entidade",
    entity_reference: "Referência da entidade",
    source: "Origem",
    message: "Mensagem",
    residents: "Residentes",
    pets: "Animais",
    move_timeline: "Mudança",
    income: "Rendimento mensal",
    letter: "Carta de apresentação",
    yes: "Sim",
    no: "Não",
    contact_leads: "Outras leads do contacto",
    no_other_leads: "Nenhuma.",
    work: "Trabalhar esta lead",
    note: "Nota",
    tags_hint: "Separadas por vírgulas",
    save: "Guardar",
    saved: "Guardado.",
    conflict: "Outra pessoa alterou esta lead depois de a abrir. Nada foi substituído: estes são os valores atuais. Faça a alteração de novo.",
    refused: "Esta alteração não é permitida",
    history: "Histórico",
    no_history: "Ainda sem alterações.",
    changed_by: "por",
    reopened: "reaberta",
    notes: "Notas",
    payload: "Conteúdo original",
    deliveries_pending: "As entregas aparecerão aqui quando o reencaminhamento estiver instalado.",
    contacts_caption: "Contactos, os mais recentes primeiro",
    leads_count: "Leads",
    last_lead: "Última lead",
    quarantine_caption: "Conteúdos que não puderam ser leads, mais recentes primeiro",
    reason: "Motivo",
    replay: "Reprocessar",
    delete: "Apagar",
    replayed: "Reprocessado: agora é uma lead.",
    still_refused: "Ainda recusado",
    deleted: "Apagado.",
    empty_quarantine: "A quarentena está vazia.",
    per_day: "Leads por dia, últimos 30 dias",
    chart_title: "Gráfico de barras das leads por dia",
    by_entity_type: "Leads por tipo de entidade",
    by_status: "Leads por estado",
    total: "Total",
    none: "nenhum",
    users: "Utilizadores",
    role: "Função",
    created: "Criado",
    disabled: "Desativado",
    disable: "Desativar",
    create_user: "Criar um utilizador",
    webhook_tokens: "Tokens do webhook",
    api_keys: "Chaves da API",
    scopes: "Âmbitos",
    revoke: "Revogar",
    revoked: "Revogado",
    create: "Criar",
    secret_once: "Copie este segredo agora: só é mostrado uma vez e não pode ser lido de novo.",
    valid: "Válido",
    forbidden: "Esta página é para administradores.",
    not_found: "Não há nada aqui.",
    unavailable: "Não é possível aceder à base de dados neste momento. Tente de novo daqui a pouco.",
    bad_request: "O pedido não é válido",
    back_to_inbox: "Voltar à caixa de entrada",
    actions: "Ações",
    person: "Dados de uma pessoa",
    person_hint: "Encontre tudo o que se guarda sobre uma pessoa pelo email ou telefone (RGPD). A exportação completa é GET /api/v1/subjects/export ou lead-inbox export-subject.",
    find: "Procurar",
    quarantined_mentions: "Conteúdos em quarentena que a mencionam",
    erase_all: "Apagar tudo sobre esta pessoa",
    erased: "Apagado: leads e conteúdos em quarentena",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_heaviest_known_language() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("pt-PT,pt;q=0.9,en;q=0.8")), Lang::Pt);
        assert_eq!(Lang::negotiate(Some("fr, en;q=0.5, pt;q=0.7")), Lang::Pt);
        assert_eq!(Lang::negotiate(Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(Some("pt;q=0")), Lang::En);
    }

    #[test]
    fn statuses_have_names_in_both_languages() {
        for status in LeadStatus::ALL {
            assert!(!EN.status_name(status).is_empty());
            assert!(!PT.status_name(status).is_empty());
        }
        assert_eq!(PT.status_name(LeadStatus::Won), "Ganho");
    }
}
