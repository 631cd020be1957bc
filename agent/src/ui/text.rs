//! The window's words in English, Russian, French and Chinese. Script
//! phrases (what the agent says to the caller) live in
//! `careline_shared::script`; these are the screen's own labels.

use careline_shared::script::Lang;

/// One label of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    LogIn,
    Server,
    Extension,
    Password,
    Language,
    Answer,
    AutoAnswer,
    Audio,
    Microphone,
    Speaker,
    Ringtone,
    SystemDefault,
    Decline,
    HangUp,
    Hold,
    Resume,
    Mute,
    Unmute,
    Keypad,
    Transfer,
    TransferToSenior,
    Consult,
    Complete,
    Cancel,
    Target,
    Note,
    Available,
    WithPatient,
    Paused,
    Registered,
    NotRegistered,
    LinkDown,
    Idle,
    Ringing,
    Talking,
    OnHold,
    WrapUp,
    Caller,
    UnknownCaller,
    IdentityConfirmed,
    CheckBirthDate,
    BirthDateSaid,
    BirthDateMismatch,
    Age,
    NextAppointment,
    LastAppointment,
    Pregnancy,
    Notes,
    Script,
    CallBackTasks,
    PreviousCalls,
    OpenCallbacks,
    RecentCalls,
    Disposition,
    Reason,
    Date,
    Time,
    Service,
    Save,
    Saved,
    HoldReminder,
    ConsultationWith,
    None,
}

impl T {
    /// This label in `lang`.
    pub fn get(self, lang: Lang) -> &'static str {
        let [en, ru, fr, zh] = self.all();
        match lang {
            Lang::En => en,
            Lang::Ru => ru,
            Lang::Fr => fr,
            Lang::Zh => zh,
        }
    }

    fn all(self) -> [&'static str; 4] {
        match self {
            T::LogIn => ["Log in", "Войти", "Se connecter", "登录"],
            T::Server => ["Server", "Сервер", "Serveur", "服务器"],
            T::Extension => ["Extension", "Внутренний номер", "Poste", "分机号"],
            T::Password => ["Password", "Пароль", "Mot de passe", "密码"],
            T::Language => ["Language", "Язык", "Langue", "语言"],
            T::Answer => ["Answer", "Ответить", "Répondre", "接听"],
            T::AutoAnswer => ["Auto-answer", "Автоответ", "Réponse auto", "自动接听"],
            T::Audio => [
                "Audio devices",
                "Звуковые устройства",
                "Périphériques audio",
                "音频设备",
            ],
            T::Microphone => ["Microphone", "Микрофон", "Microphone", "麦克风"],
            T::Speaker => ["Speaker", "Динамик", "Haut-parleur", "扬声器"],
            T::Ringtone => ["Ringtone on", "Звонок на", "Sonnerie sur", "铃声设备"],
            T::SystemDefault => ["System default", "По умолчанию", "Par défaut", "系统默认"],
            T::Decline => ["Decline", "Отклонить", "Refuser", "拒接"],
            T::HangUp => ["Hang up", "Завершить", "Raccrocher", "挂断"],
            T::Hold => ["Hold", "Удержание", "Attente", "保持"],
            T::Resume => ["Resume", "Вернуться", "Reprendre", "恢复"],
            T::Mute => ["Mute", "Микрофон выкл.", "Couper le micro", "静音"],
            T::Unmute => ["Unmute", "Микрофон вкл.", "Rétablir le micro", "取消静音"],
            T::Keypad => ["Keypad", "Клавиатура", "Clavier", "拨号盘"],
            T::Transfer => ["Transfer", "Перевести", "Transférer", "转接"],
            T::TransferToSenior => [
                "Transfer to senior",
                "Перевести на старшего",
                "Transférer au référent",
                "转给主管",
            ],
            T::Consult => ["Consult", "Консультация", "Consulter", "咨询"],
            T::Complete => [
                "Complete transfer",
                "Завершить перевод",
                "Terminer le transfert",
                "完成转接",
            ],
            T::Cancel => ["Cancel", "Отменить", "Annuler", "取消"],
            T::Target => ["To", "Кому", "Vers", "转给"],
            T::Note => ["Note", "Заметка", "Note", "备注"],
            T::Available => ["Available", "Свободен", "Disponible", "空闲"],
            T::WithPatient => [
                "With a patient",
                "С пациентом",
                "Avec un patient",
                "接待患者",
            ],
            T::Paused => ["Paused", "Перерыв", "En pause", "暂停"],
            T::Registered => ["Phone ready", "Телефон готов", "Téléphone prêt", "电话就绪"],
            T::NotRegistered => [
                "Phone not registered",
                "Телефон не зарегистрирован",
                "Téléphone non enregistré",
                "电话未注册",
            ],
            T::LinkDown => [
                "Server unreachable — retrying",
                "Сервер недоступен — повторяем",
                "Serveur injoignable — nouvel essai",
                "无法连接服务器 — 正在重试",
            ],
            T::Idle => ["No call", "Нет звонка", "Pas d'appel", "无通话"],
            T::Ringing => ["Ringing", "Входящий звонок", "Appel entrant", "来电"],
            T::Talking => ["On the call", "Разговор", "En ligne", "通话中"],
            T::OnHold => ["On hold", "На удержании", "En attente", "保持中"],
            T::WrapUp => ["Wrap-up", "Обработка", "Post-appel", "话后处理"],
            T::Caller => ["Caller", "Звонящий", "Appelant", "来电者"],
            T::UnknownCaller => [
                "Unknown caller",
                "Неизвестный номер",
                "Appelant inconnu",
                "未知来电",
            ],
            T::IdentityConfirmed => [
                "Identity confirmed",
                "Личность подтверждена",
                "Identité confirmée",
                "身份已确认",
            ],
            T::CheckBirthDate => [
                "Ask for the date of birth, then confirm",
                "Уточните дату рождения и подтвердите",
                "Demandez la date de naissance, puis confirmez",
                "请核对出生日期后确认",
            ],
            T::BirthDateSaid => [
                "Date of birth given",
                "Названная дата рождения",
                "Date de naissance donnée",
                "所述出生日期",
            ],
            T::BirthDateMismatch => [
                "Does not match the card: ask again",
                "Не совпадает с картой: уточните",
                "Ne correspond pas à la fiche : redemandez",
                "与档案不符：请再次核对",
            ],
            T::Age => ["Age", "Возраст", "Âge", "年龄"],
            T::NextAppointment => [
                "Next visit",
                "Следующий приём",
                "Prochain rendez-vous",
                "下次就诊",
            ],
            T::LastAppointment => [
                "Last visit",
                "Последний приём",
                "Dernier rendez-vous",
                "上次就诊",
            ],
            T::Pregnancy => ["Pregnancy", "Беременность", "Grossesse", "妊娠"],
            T::Notes => ["Service card", "Сервисная карта", "Fiche service", "服务卡"],
            T::Script => ["Script", "Сценарий", "Script", "话术"],
            T::CallBackTasks => ["Call-backs", "Перезвоны", "Rappels", "回拨任务"],
            T::PreviousCalls => [
                "Previous calls",
                "Прошлые звонки",
                "Appels précédents",
                "以往来电",
            ],
            T::OpenCallbacks => [
                "Call-backs still open for this number",
                "Открытые перезвоны по этому номеру",
                "Rappels encore ouverts pour ce numéro",
                "该号码待回拨任务",
            ],
            T::RecentCalls => [
                "Recent calls",
                "Недавние звонки",
                "Appels récents",
                "最近通话",
            ],
            T::Disposition => ["Outcome", "Итог звонка", "Issue de l'appel", "通话结果"],
            T::Reason => ["Reason", "Причина", "Motif", "原因"],
            T::Date => ["Date", "Дата", "Date", "日期"],
            T::Time => ["Time", "Время", "Heure", "时间"],
            T::Service => ["Service", "Услуга", "Prestation", "服务"],
            T::Save => ["Save", "Сохранить", "Enregistrer", "保存"],
            T::Saved => ["Saved", "Сохранено", "Enregistré", "已保存"],
            T::HoldReminder => [
                "Go back to the caller",
                "Вернитесь к пациенту",
                "Revenez vers l'appelant",
                "请回到来电者",
            ],
            T::ConsultationWith => [
                "Consulting",
                "Консультация с",
                "Consultation avec",
                "正在咨询",
            ],
            T::None => ["none", "нет", "aucun", "无"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_has_its_own_text_in_every_language() {
        let all = [
            T::LogIn,
            T::Answer,
            T::TransferToSenior,
            T::IdentityConfirmed,
            T::WrapUp,
        ];
        for t in all {
            for lang in Lang::ALL {
                assert!(!t.get(lang).trim().is_empty(), "{t:?} in {lang:?}");
            }
            assert_ne!(t.get(Lang::En), t.get(Lang::Ru), "{t:?}");
            assert_ne!(t.get(Lang::En), t.get(Lang::Zh), "{t:?}");
        }
    }
}
