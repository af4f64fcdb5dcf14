//! The basic survey (基本調査) of the certification survey: its groups, its
//! items and how each is answered, as data the validator and the examples
//! walk.

/// How one answer of the basic survey is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyAnswer {
    /// One of the form's choices, by its number 1..=n.
    Choice(u8),
    /// Any of the form's choices 1..=n, as an array; choice 1 (ない, none)
    /// only on its own.
    MultiChoice(u8),
    /// Whether the item applies (special medical care), a boolean.
    Flag,
}

/// One item of the basic survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyItem {
    /// The item number within its group, as the JSON key ("1", "2", …).
    pub key: &'static str,
    /// The item's name on the form.
    pub japanese_name: &'static str,
    /// How it is answered.
    pub answer: SurveyAnswer,
}

/// One group of the basic survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyGroup {
    /// The JSON key under `basic_survey`.
    pub key: &'static str,
    /// The group's name on the form.
    pub japanese_name: &'static str,
    /// Its items, in form order.
    pub items: &'static [SurveyItem],
}

macro_rules! survey_items {
    ($( $key:literal $name:literal $answer:expr ),+ $(,)?) => {
        &[ $( SurveyItem { key: $key, japanese_name: $name, answer: $answer } ),+ ]
    };
}

use SurveyAnswer::{Choice, Flag, MultiChoice};

/// The basic survey of the 認定調査票 (as revised in 2009): five groups and
/// special medical care, 67 keyed items. Paralysis (1-1) and contracture
/// (1-2) are multiple-choice items whose 5 and 4 body-part choices are
/// separate check items on the form, giving its 74 check items.
pub const BASIC_SURVEY: &[SurveyGroup] = &[
    SurveyGroup {
        key: "physical_function",
        japanese_name: "第1群 身体機能・起居動作",
        items: survey_items![
            "1" "麻痺等の有無（1.ない 2.左上肢 3.右上肢 4.左下肢 5.右下肢 6.その他）" MultiChoice(6),
            "2" "拘縮の有無（1.ない 2.肩関節 3.股関節 4.膝関節 5.その他）" MultiChoice(5),
            "3" "寝返り" Choice(3),
            "4" "起き上がり" Choice(3),
            "5" "座位保持" Choice(4),
            "6" "両足での立位保持" Choice(3),
            "7" "歩行" Choice(3),
            "8" "立ち上がり" Choice(3),
            "9" "片足での立位" Choice(3),
            "10" "洗身" Choice(4),
            "11" "つめ切り" Choice(3),
            "12" "視力" Choice(5),
            "13" "聴力" Choice(5),
        ],
    },
    SurveyGroup {
        key: "daily_life_function",
        japanese_name: "第2群 生活機能",
        items: survey_items![
            "1" "移乗" Choice(4),
            "2" "移動" Choice(4),
            "3" "えん下" Choice(3),
            "4" "食事摂取" Choice(4),
            "5" "排尿" Choice(4),
            "6" "排便" Choice(4),
            "7" "口腔清潔" Choice(3),
            "8" "洗顔" Choice(3),
            "9" "整髪" Choice(3),
            "10" "上衣の着脱" Choice(4),
            "11" "ズボン等の着脱" Choice(4),
            "12" "外出頻度" Choice(3),
        ],
    },
    SurveyGroup {
        key: "cognitive_function",
        japanese_name: "第3群 認知機能",
        items: survey_items![
            "1" "意思の伝達" Choice(4),
            "2" "毎日の日課を理解" Choice(2),
            "3" "生年月日や年齢を言う" Choice(2),
            "4" "短期記憶" Choice(2),
            "5" "自分の名前を言う" Choice(2),
            "6" "今の季節を理解する" Choice(2),
            "7" "場所の理解" Choice(2),
            "8" "常時の徘徊" Choice(3),
            "9" "外出すると戻れない" Choice(3),
        ],
    },
    SurveyGroup {
        key: "mental_behavioral_disorders",
        japanese_name: "第4群 精神・行動障害",
        items: survey_items![
            "1" "物を盗られたなどと被害的になる" Choice(3),
            "2" "作話" Choice(3),
            "3" "泣いたり、笑ったりして感情が不安定になる" Choice(3),
            "4" "昼夜の逆転がある" Choice(3),
            "5" "しつこく同じ話をする" Choice(3),
            "6" "大声をだす" Choice(3),
            "7" "介護に抵抗する" Choice(3),
            "8" "「家に帰る」等と言い落ち着きがない" Choice(3),
            "9" "一人で外に出たがり目が離せない" Choice(3),
            "10" "いろいろなものを集めたり、無断でもってくる" Choice(3),
            "11" "物を壊したり、衣類を破いたりする" Choice(3),
            "12" "ひどい物忘れ" Choice(3),
            "13" "意味もなく独り言や独り笑いをする" Choice(3),
            "14" "自分勝手に行動する" Choice(3),
            "15" "話がまとまらず、会話にならない" Choice(3),
        ],
    },
    SurveyGroup {
        key: "social_adaptation",
        japanese_name: "第5群 社会生活への適応",
        items: survey_items![
            "1" "薬の内服" Choice(3),
            "2" "金銭の管理" Choice(3),
            "3" "日常の意思決定" Choice(4),
            "4" "集団への不適応" Choice(3),
            "5" "買い物" Choice(4),
            "6" "簡単な調理" Choice(4),
        ],
    },
    SurveyGroup {
        key: "special_medical_care",
        japanese_name: "その他 過去14日間にうけた特別な医療",
        items: survey_items![
            "1" "点滴の管理" Flag,
            "2" "中心静脈栄養" Flag,
            "3" "透析" Flag,
            "4" "ストーマ（人工肛門）の処置" Flag,
            "5" "酸素療法" Flag,
            "6" "レスピレーター（人工呼吸器）" Flag,
            "7" "気管切開の処置" Flag,
            "8" "疼痛の看護" Flag,
            "9" "経管栄養" Flag,
            "10" "モニター測定（血圧、心拍、酸素飽和度等）" Flag,
            "11" "じょくそうの処置" Flag,
            "12" "カテーテル（コンドームカテーテル、留置カテーテル、ウロストーマ等）" Flag,
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_survey_has_74_check_items() {
        let keyed: usize = BASIC_SURVEY.iter().map(|g| g.items.len()).sum();
        assert_eq!(keyed, 67);
        // 1-1 paralysis: 5 body parts; 1-2 contracture: 4 — each a check item.
        assert_eq!(keyed - 2 + 5 + 4, 74);
        let sizes: Vec<_> = BASIC_SURVEY.iter().map(|g| g.items.len()).collect();
        assert_eq!(sizes, [13, 12, 9, 15, 6, 12]);
    }
}
