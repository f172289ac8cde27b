"""Static vocabularies used by name normalisation (pure data, no logic).

Kept in one place so the explanation JSON can cite *why* a token was treated specially
(honorific dropped, organisation form weakened, variant folded) and so reviewers can audit
the lists without reading code.
"""

from __future__ import annotations

# Titles and honorifics: they say nothing about identity, and customer records add or omit
# them freely, so they are dropped (only when something else is left).
HONORIFICS: frozenset[str] = frozenset(
    """
    MR MRS MS MISS MX DR PROF PROFESSOR SIR DAME LORD LADY HON REV REVEREND FR MME MLLE
    HERR FRAU SR SRA SRTA DON DONA SHEIKH SHAIKH SHEIK SHAYKH HAJI HAJJI HAJ ALHAJI MAWLAWI
    MAULAVI MAULVI MAWLAVI MULLAH MULLA MAULANA MOULANA QARI HAFIZ SAYYID SAYED SYED
    ENGR ENG GENERAL GEN COLONEL COL MAJOR MAJ CAPTAIN CAPT LT LIEUTENANT ADMIRAL ADM
    BRIGADIER PRESIDENT MINISTER AMBASSADOR JUDGE IMAM EMIR AMIR PRINCE PRINCESS KING
    MONSIEUR MADAME MADEMOISELLE SENOR SENORA SENORITA SIGNOR SIGNORA PRASIDENT PRAESIDENT
    PRESIDENTE HADJI HADJJI HADZHI KHADZHI KHADJI
    """.split()
)

# Legal-form words of organisations: weak tokens. They still count (a little) so that
# "ACME LTD" ranks above "ACME HOLDINGS", but never carry a match on their own.
ORG_FORMS: frozenset[str] = frozenset(
    """
    LTD LIMITED LLC LLP LP INC INCORPORATED CORP CORPORATION CO COMPANY CIE PLC SA SAS
    SARL SRL SPA SPZOO ZOO SP AG GMBH MBH KG KGAA OHG UG EV BV NV VOF OY OYJ AB AS ASA APS
    OOO ZAO OAO PAO AO TOO JSC CJSC OJSC PJSC PTE PTY BHD SDN FZE FZCO FZC FZLLC DMCC EST
    ESTABLISHMENT SAL SAE SAOG SAOC WLL KSC KSCC BSC QSC PSC TAS AS SACA CA SCA SNC SENC
    SE EIRL LTDA CIA EIRELI ME JSCO LLLP PVT PRIVATE PUBLIC PJS SPOL SRO KFT ZRT NYRT
    DOO AD EAD OU UAB SIA AS KK YK THE CV RL SAC EOOD
    JOINT STOCK LIABILITY SOCIEDAD ANONIMA ANONYME SOCIETE SOCIETA LIMITADA LIMITATA
    LIMITEE RESPONSABILIDAD RESPONSABILITA RESPONSABILITE AZIONI OBSHCHESTVO AKTSIONERNOE
    """.split()
)

# Spelled-out legal forms and their abbreviation (longest first).
LEGAL_FORM_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    (tuple(phrase.split()), abbr) for phrase, abbr in sorted((
        ("GESELLSCHAFT MIT BESCHRANKTER HAFTUNG", "GMBH"),
        ("GESELLSCHAFT MIT BESCHRAENKTER HAFTUNG", "GMBH"),
        ("OBSHCHESTVO S OGRANICHENNOY OTVETSTVENNOSTYU", "OOO"),
        ("OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTIU", "OOO"),
        ("AKTSIONERNOE OBSHCHESTVO", "AO"), ("ZAKRYTOE AKTSIONERNOE OBSHCHESTVO", "ZAO"),
        ("OTKRYTOE AKTSIONERNOE OBSHCHESTVO", "OAO"),
        ("PUBLICHNOE AKTSIONERNOE OBSHCHESTVO", "PAO"),
        ("SOCIETATEA CU RASPUNDERE LIMITATA", "SRL"), ("SOCIETA A RESPONSABILITA LIMITATA",
                                                        "SRL"),
        ("SOCIEDAD DE RESPONSABILIDAD LIMITADA", "SRL"), ("SOCIEDAD ANONIMA", "SA"),
        ("SOCIETE ANONYME", "SA"), ("SOCIETE A RESPONSABILITE LIMITEE", "SARL"),
        ("SOCIETA PER AZIONI", "SPA"), ("LIMITED LIABILITY COMPANY", "LLC"),
        ("LIMITED LIABILITY PARTNERSHIP", "LLP"), ("PUBLIC LIMITED COMPANY", "PLC"),
        ("JOINT STOCK COMPANY", "JSC"), ("CLOSED JOINT STOCK COMPANY", "CJSC"),
        ("OPEN JOINT STOCK COMPANY", "OJSC"), ("PUBLIC JOINT STOCK COMPANY", "PJSC"),
        ("PRIVATE LIMITED COMPANY", "LTD"), ("AKTIENGESELLSCHAFT", "AG"),
        ("SPOLKA Z OGRANICZONA ODPOWIEDZIALNOSCIA", "SPZOO"), ("SP Z O O", "SPZOO"),
        ("SP Z OO", "SPZOO"), ("LIMITED", "LTD"), ("INCORPORATED", "INC"),
        ("CORPORATION", "CORP"), ("COMPANY", "CO"), ("BESLOTEN VENNOOTSCHAP", "BV"),
        ("NAAMLOZE VENNOOTSCHAP", "NV"), ("KOMMANDITGESELLSCHAFT", "KG"),
    ), key=lambda x: -len(x[0].split())))

# Number words read as digits (FORTY-FOUR = 44, FIRST = 1ST = 1): digits must be equal,
# so both spellings of a number compare equal only once they are one token.
NUMBER_WORDS: dict[str, int] = {
    w: i for i, w in enumerate(
        "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN "
        "FOURTEEN FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN".split())
} | {"FIRST": 1, "SECOND": 2, "THIRD": 3, "FOURTH": 4, "FIFTH": 5, "SIXTH": 6,
     "SEVENTH": 7, "EIGHTH": 8, "NINTH": 9, "TENTH": 10}
TENS_WORDS: dict[str, int] = {
    "TWENTY": 20, "THIRTY": 30, "FORTY": 40, "FOURTY": 40, "FIFTY": 50, "SIXTY": 60,
    "SEVENTY": 70, "EIGHTY": 80, "NINETY": 90,
}

# Name particles: frequent connecting words. Weak, but kept, because "BIN LADEN" without
# "BIN" should still match while "BIN" alone must never alert.
PARTICLES: frozenset[str] = frozenset(
    """
    AL EL UL UD ED AD AS AZ ASH AN AR AT BIN BEN IBN BINT BENT ABU ABOU UMM OULD WALD
    DE DA DI DO DU DEL DELLA DELLE DEI DOS DAS DES LA LE LO LOS LAS VAN VON DER DEN TER
    TEN Y E ST SAINT MAC MC OF AND ET UND
    """.split()
)

# Whole-token transliteration variants folded to one canonical key. Built from the
# spellings that actually co-occur on the OFAC/UN lists for the same person.
_VARIANT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("MUHAMMAD", "MOHAMMAD", "MOHAMMED", "MUHAMMED", "MOHAMED", "MOHAMAD", "MUHAMAD",
     "MUHAMED", "MOHAMMAD", "MAHOMED", "MOHAMMET", "MEHMET", "MEHMED", "MOHD", "MOHAMMEED",
     "MOUHAMED", "MOUHAMMAD", "MUHAMET", "MOHAMEED", "MOHAMADOU", "MAHAMAT", "MAHAMMAD"),
    ("HUSAYN", "HUSSEIN", "HUSSAIN", "HUSEIN", "HUSAIN", "HOSSEIN", "HOSEIN", "HUSEYIN",
     "HUSSAYN", "HOUSSEIN", "HUSSEYN", "HOSEYN", "HUSAYNI", "HUSSAINI", "HUSSEINI"),
    ("HASAN", "HASSAN", "HASSEN", "HACEN", "HASAAN", "HASSANE"),
    ("AHMAD", "AHMED", "AHMET", "AHMADOU", "AHMADU", "AHMEED"),
    ("MAHMUD", "MAHMOOD", "MAHMOUD", "MEHMOOD", "MAHMOD", "MAHMOUDE"),
    ("YUSUF", "YOUSSEF", "YOUSEF", "YUSEF", "YOUSUF", "YOUSOUF", "JUSUF", "YUSSUF", "YOUSIF",
     "YUSIF"),
    ("OSAMA", "USAMA", "OUSSAMA", "USAMAH", "OSAMAH", "USSAMA"),
    ("LADEN", "LADIN"),
    ("QAEDA", "QAIDA", "QAEDAH", "QAIDAH", "KAIDA", "QUAIDA"),
    ("ABDUL", "ABDEL", "ABDOUL", "ABDAL", "ABDULL", "ABDOL", "ABDIL", "ABDULLE"),
    ("ABDULLAH", "ABDALLAH", "ABDULLA", "ABDALLA", "ABDOULLAH", "ABDELLAH", "ABDOLLAH"),
    ("OMAR", "UMAR", "OMER", "OUMAR"),
    ("OTHMAN", "USMAN", "UTHMAN", "OSMAN", "OTHMANE", "OUSMANE", "USMANE"),
    ("KHALID", "KHALED", "KHALEED", "HALID", "CHALID"),
    ("YEVGENIY", "EVGENY", "EVGENIY", "YEVGENY", "EVGENII", "YEVGENII", "JEVGENIJ",
     "EVGENIJ", "IEVGEN", "YEVHEN", "EVGENI"),
    ("ALEKSANDR", "ALEXANDER", "ALEXANDR", "ALEKSANDER", "OLEKSANDR", "ALEXANDRE",
     "ALEXANDROS", "ALEKSANDAR", "ALIAKSANDR"),
    ("SERGEY", "SERGEI", "SERGIY", "SERHIY", "SERHII", "SIARHEI", "SERGIJ"),
    ("DMITRY", "DMITRIY", "DMITRI", "DMYTRO", "DZMITRY", "DMITRIJ", "DIMITRI", "DIMITRY"),
    ("YURI", "YURIY", "YURY", "IURII", "JURIJ", "IURI", "YURII"),
    ("ANDREY", "ANDREI", "ANDRIY", "ANDRII", "ANDREJ", "ANDRIJ"),
    ("ALEKSEY", "ALEXEY", "ALEKSEI", "ALEXEI", "OLEKSIY", "OLEKSII", "ALIAKSEI"),
    ("NIKOLAY", "NIKOLAI", "MYKOLA", "NIKOLAJ", "NICOLAI", "NIKOLAOS", "MIKALAI"),
    ("MIKHAIL", "MIKHAEL", "MYKHAILO", "MICHAIL", "MIKHAILO", "MIKHAYLO"),
    ("VIKTOR", "VICTOR", "WIKTOR"),
    ("ALI", "ALY", "ALEE"),
    ("HASSANE",),
    ("JOSEPH", "YOSEF", "IOSIF", "JOSEF", "YOSSEF", "GIUSEPPE", "JOSE"),
    ("DAVID", "DAVUD", "DAOUD", "DAWOOD", "DAWUD", "DAUD"),
    ("IBRAHIM", "EBRAHIM", "IBRAHEEM", "IBRAGIM", "IBROHIM", "EBRAHEEM", "BRAHIM"),
    ("ISMAIL", "ISMAEL", "ISMAIIL", "ESMAIL", "ESMAEIL", "SMAIL"),
    ("JAMAL", "GAMAL", "DJAMEL", "JAMEL", "DJAMAL"),
    ("RAHMAN", "REHMAN", "RAHMANE", "RAKHMAN"),
    ("ABDULRAHMAN", "ABDELRAHMAN", "ABDURRAHMAN", "ABDURAHMAN", "ABDULRAHMANE",
     "ABDERRAHMANE", "ABDERRAHMAN", "ABDALRAHMAN"),
    ("KIM", "GIM"),
    ("PARK", "BAK", "BAG", "PAK"),
    ("LEE", "YI", "RHEE", "RI"),
    ("CHOI", "CHOE", "CHWE"),
    ("JONG", "JEONG", "JUNG", "CHONG", "CHUNG"),
    ("UN", "EUN"),
    ("SUNG", "SEONG", "SONG"),
)

VARIANTS: dict[str, str] = {
    variant: group[0] for group in _VARIANT_GROUPS for variant in group
}

# Glued Arabic compounds split for comparison ("ABDULRAHMAN" keeps its own token via the
# variants above; these prefixes mark tokens that may be written split or glued).
SPLITTABLE_PREFIXES: tuple[str, ...] = ("ABDUL", "ABDEL", "ABD", "ABU", "BIN", "AL", "EL")

# Scripts whose usual romanisation drops short vowels (abjads) or writes vowels loosely;
# tokens from them are compared by consonant skeleton.
ABJAD_SCRIPTS: frozenset[str] = frozenset({"Arab", "Hebr", "Thai", "Syrc", "Thaa"})
